/** The recent jobs list (GET /v1/jobs): status, thumbnail, re-open, re-run. */
import type { Job } from './api.js';
import { h } from './dom.js';
import { ago, dims } from './format.js';
import type { JobRecord } from './memory.js';

export interface RecentActions {
  open(job: Job): void;
  rerun(job: Job, record: JobRecord): void;
}

export function renderRecent(
  list: HTMLElement,
  jobs: readonly Job[],
  records: Record<string, JobRecord>,
  actions: RecentActions,
): void {
  if (jobs.length === 0) {
    list.replaceChildren(h('li', { class: 'muted' }, 'No jobs yet.'));
    return;
  }
  list.replaceChildren(
    ...jobs.map((job) => {
      const record = records[job.id];
      const name = record?.name ?? job.id;
      const thumb = job.result
        ? h('img', { src: job.result.url, alt: '', loading: 'lazy', width: 56, height: 56 })
        : h('span', { class: 'thumb-empty', 'aria-hidden': 'true' }, job.status === 'failed' ? '!' : '…');
      const open = h('button', { type: 'button', class: 'btn ghost', 'aria-label': `Open ${name}` }, 'Open');
      open.addEventListener('click', () => actions.open(job));
      const rerun = h(
        'button',
        {
          type: 'button',
          class: 'btn ghost',
          disabled: !record,
          title: record ? undefined : 'Made outside this browser: its input is not known here',
          'aria-label': `Re-run ${name}: load its image and settings into the form`,
        },
        'Re-run',
      );
      if (record) rerun.addEventListener('click', () => actions.rerun(job, record));
      const size = job.output?.width ? `${dims(job.output.width, job.output.height)} · ` : '';
      return h(
        'li',
        { class: 'recent-item', 'data-job': job.id, 'data-status': job.status },
        h('span', { class: 'thumb' }, thumb),
        h(
          'span',
          { class: 'recent-text' },
          h('strong', { title: name }, name),
          h(
            'small',
            {},
            h('span', { class: `status s-${job.status}` }, job.status),
            ` ${job.model.used} · ${size}${ago(job.created_at)}`,
          ),
        ),
        h('span', { class: 'recent-actions' }, open, rerun),
      );
    }),
  );
}
