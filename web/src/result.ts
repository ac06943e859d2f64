/** The finished job on show: both images in the viewer, its figures, and the download link. */
import { ApiError, type Job } from './api.js';
import type { Compare } from './compare.js';
import { byId, h } from './dom.js';
import { bytes, dims, seconds } from './format.js';

/** What the viewer shows as "before": the file or URL this browser has for the job's input. */
export interface Before {
  /** Object URL of the file, or the URL itself; null when this browser no longer has it. */
  readonly preview: string | null;
  readonly name: string;
  readonly bytes?: number;
}

// The file route names the file after the job (Content-Disposition), which a browser prefers
// to the link's `download` name; fetching it into a blob keeps the name made here.
byId('download').addEventListener('click', async (e) => {
  const a = e.currentTarget as HTMLAnchorElement;
  if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  try {
    const res = await fetch(a.href);
    if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, 'The result could not be downloaded.');
    const url = URL.createObjectURL(await res.blob());
    h('a', { href: url, download: a.download }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch {
    // Links on another origin (PIXELIFT_PUBLIC_URL behind a proxy) cannot be fetched from
    // here; opening the link still gets the file, under the server's name.
    location.assign(a.href);
  }
});

export function setDownload(job: Job | null, name = 'image'): void {
  const a = byId<HTMLAnchorElement>('download');
  a.hidden = !job?.result;
  if (!job?.result) {
    a.removeAttribute('href');
    return;
  }
  const ext = job.result.format === 'jpeg' ? 'jpg' : job.result.format;
  a.href = job.result.url;
  a.download = `${name.replace(/\.[^.]*$/, '')}-${job.result.width}x${job.result.height}.${ext}`;
}

export function showResult(compare: Compare, job: Job, from: Before | null): void {
  const r = job.result;
  if (!r) return;
  showFaces(job);
  compare.show(from?.preview ?? null, r.url, r.width, r.height);
  setDownload(job, from?.name);
  byId('stat-before').textContent = [
    dims(job.input.width, job.input.height),
    from?.bytes ? bytes(from.bytes) : '',
    job.input.format.toUpperCase(),
  ]
    .filter(Boolean)
    .join(' · ');
  byId('stat-after').textContent =
    `${dims(r.width, r.height)} · ${bytes(r.bytes)} · ${r.format.toUpperCase()}`;
  const run = job.timings.run_ms;
  byId('stat-time').textContent =
    `${run !== undefined ? seconds(run / 1000) : '–'} · ${job.model.used} · ${job.cost} credits`;
  byId('stats').hidden = false;
}

/** Outline each face the job found, in output pixels (the faces were reported in input pixels). */
function showFaces(job: Job): void {
  const layer = byId('faces');
  const faces = job.result?.faces ?? [];
  layer.hidden = faces.length === 0;
  if (faces.length === 0 || !job.result) {
    layer.replaceChildren();
    return;
  }
  const sx = job.result.width / job.input.width;
  const sy = job.result.height / job.input.height;
  const box = h('div', { id: 'faces-box', class: 'faces-box' });
  box.style.width = `${job.result.width}px`;
  box.style.height = `${job.result.height}px`;
  for (const f of faces) {
    const o = h('div', { class: 'face', title: `face, score ${f.score}` });
    o.style.left = `${f.box.x * sx}px`;
    o.style.top = `${f.box.y * sy}px`;
    o.style.width = `${f.box.width * sx}px`;
    o.style.height = `${f.box.height * sy}px`;
    box.append(o);
  }
  layer.replaceChildren(box);
}
