/**
 * The playground: pick an image (drop, choose, paste, URL), a model and settings; see the
 * estimate; run through POST /v1/upscale with live progress over SSE; compare before and
 * after; copy the same call as cURL, JavaScript or Python. Everything goes through the public
 * native API with the user's key, so what works here works from their code.
 */
import { clearError, showError } from './alert.js';
import { Api, ApiError, type Estimate, type Job, type Model, TERMINAL, type Upload } from './api.js';
import { renderApiPanel } from './api-panel.js';
import { Compare } from './compare.js';
import { byId, h } from './dom.js';
import { bytes, dims, megapixels, seconds } from './format.js';
import {
  type JobRecord,
  jobRecords,
  keepOriginal,
  original,
  rememberJob,
  savedKey,
  saveKey,
} from './memory.js';
import { renderModels } from './models.js';
import { renderRecent } from './recent.js';
import { type Before, setDownload, showResult } from './result.js';
import { LOSSY, readSettings, writeSettings } from './settings.js';

/** The chosen input: what is sent as `image` and what the viewer shows as "before". */
interface Source extends Before {
  readonly image: string;
  readonly kind: 'file' | 'url';
}

const api = new Api();
const form = byId<HTMLFormElement>('controls');
const compare = new Compare({
  viewer: byId('viewer'),
  before: byId<HTMLImageElement>('before'),
  after: byId<HTMLImageElement>('after'),
  afterLayer: byId('after-layer'),
  split: byId<HTMLInputElement>('split'),
  divider: byId('divider'),
  zoomLevel: byId<HTMLOutputElement>('zoom-level'),
});

let needsKey = false;
let source: Source | null = null;
/** Resolves when the chosen file is uploaded (run waits for it). */
let uploading: Promise<void> = Promise.resolve();
let shown: Job | null = null;
let following: AbortController | null = null;

// ---- key and models -------------------------------------------------------------------

async function start(): Promise<void> {
  api.key = savedKey();
  try {
    // Without a key: an answer means open mode; 401 means the server has keys.
    const { data } = await new Api().call<{ data: Model[] }>('GET', '/v1/models');
    byId('mode').textContent = 'Open mode · no key needed';
    byId('mode').hidden = false;
    showModels(data);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'unauthorized')) return showError(err);
    needsKey = true;
    byId('key-form').hidden = false;
    byId<HTMLInputElement>('key').value = api.key;
    if (!api.key) {
      showError(new ApiError(401, 'unauthorized', 'This server needs an API key: paste yours above.'));
      byId('key').focus();
      renderSnippet();
      return;
    }
    await loadModels();
  }
  await refreshRecent();
}

byId('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  api.key = byId<HTMLInputElement>('key').value.trim();
  saveKey(api.key);
  clearError();
  void loadModels().then(refreshRecent);
});

async function loadModels(): Promise<void> {
  try {
    showModels((await api.call<{ data: Model[] }>('GET', '/v1/models')).data);
  } catch (err) {
    showError(err);
  }
}

function showModels(models: readonly Model[]): void {
  renderModels(byId('models'), models);
  update();
}

// ---- the input ------------------------------------------------------------------------

function setSource(next: Source, info: { width: number; height: number } | null): void {
  source = next;
  const parts = [next.name, info ? dims(info.width, info.height) : '', next.bytes ? bytes(next.bytes) : ''];
  byId('source-info').textContent = parts.filter(Boolean).join(' · ');
  if (info) compare.show(next.preview, null, info.width, info.height);
  setDownload(null);
  byId('stats').hidden = true;
  shown = null;
  update();
}

/** Bumped by each Re-run and each new image, so that a slower, older Re-run never lands last. */
let rerunSeq = 0;

function chooseFile(file: File): void {
  rerunSeq++;
  clearError();
  const preview = URL.createObjectURL(file);
  byId('source-info').textContent = `${file.name} · uploading…`;
  byId<HTMLButtonElement>('run').disabled = true;
  uploading = api
    .call<Upload>('POST', '/v1/uploads', file)
    .then((up) => {
      void keepOriginal(up.id, file);
      setSource({ image: up.id, name: file.name, kind: 'file', preview, bytes: up.bytes }, up);
    })
    .catch((err: unknown) => {
      byId('source-info').textContent = '';
      showError(err);
      throw err;
    });
  uploading.catch(() => {});
}

function chooseUrl(raw: string): void {
  rerunSeq++;
  clearError();
  let url: URL;
  try {
    url = new URL(raw.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('http(s) only');
  } catch {
    showError(new ApiError(0, 'url_invalid', `"${raw}" is not an http(s) URL.`, 'image'));
    return;
  }
  const name = decodeURIComponent(url.pathname.split('/').pop() || url.hostname);
  setSource({ image: url.href, name, kind: 'url', preview: url.href }, null);
}

byId<HTMLInputElement>('file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) chooseFile(file);
});
byId('url-use').addEventListener('click', () => chooseUrl(byId<HTMLInputElement>('url').value));
byId('url').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  chooseUrl(byId<HTMLInputElement>('url').value);
});

document.addEventListener('paste', (e) => {
  const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
  if (file) {
    e.preventDefault();
    chooseFile(file);
    return;
  }
  const text = e.clipboardData?.getData('text') ?? '';
  if (/^https?:\/\/\S+$/.test(text.trim()) && !(e.target instanceof HTMLInputElement)) {
    byId<HTMLInputElement>('url').value = text.trim();
    chooseUrl(text);
  }
});

const drop = byId('drop');
window.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
window.addEventListener('dragleave', (e) => {
  if (!e.relatedTarget) drop.classList.remove('over');
});
window.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  const url = e.dataTransfer?.getData('text/uri-list').split('\n')[0];
  if (file) chooseFile(file);
  else if (url) chooseUrl(url);
});

// ---- settings, estimate, snippets -----------------------------------------------------

let estimateSeq = 0;
let estimateTimer: ReturnType<typeof setTimeout> | undefined;

/** Any change of input or settings: form state, the estimate (debounced), the API snippets. */
function update(): void {
  const bySize = form.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value === 'size';
  byId('by-scale').hidden = bySize;
  byId('by-size').hidden = !bySize;
  byId('quality-box').hidden = !LOSSY.has(byId<HTMLSelectElement>('format').value);
  for (const id of ['quality', 'denoise', 'fix_compression', 'sharpen', 'face_strength']) {
    byId<HTMLOutputElement>(`${id}-out`).value = byId<HTMLInputElement>(id).value;
  }
  byId<HTMLButtonElement>('run').disabled = source === null;
  renderSnippet();
  clearTimeout(estimateTimer);
  if (source) estimateTimer = setTimeout(() => void estimate(), 250);
}

async function estimate(): Promise<void> {
  if (!source) return;
  const seq = ++estimateSeq;
  const line = byId('estimate');
  try {
    const e = await api.call<Estimate>('POST', '/v1/estimate', {
      image: source.image,
      ...readSettings(form),
    });
    if (seq !== estimateSeq) return;
    line.classList.remove('bad');
    line.replaceChildren(
      h('strong', {}, `${dims(e.output.width, e.output.height)} px`),
      ` (${megapixels(e.output.width, e.output.height)}) · about ${seconds(e.eta_seconds)} · ${e.cost} credits`,
      ...e.warnings.map((w) => h('small', { class: 'warn' }, w)),
    );
    if (source.kind === 'url' && !shown) compare.show(source.preview, null, e.input.width, e.input.height);
  } catch (err) {
    if (seq !== estimateSeq) return;
    line.classList.add('bad');
    const e = err instanceof ApiError ? err : new ApiError(0, 'browser', String(err));
    line.replaceChildren(h('code', {}, e.code), ` ${e.message}`);
  }
}

function renderSnippet(): void {
  renderApiPanel({
    base: location.origin,
    needsKey,
    image:
      source?.kind === 'url'
        ? { kind: 'url', url: source.image }
        : { kind: 'file', name: source?.name ?? 'photo.jpg' },
    settings: readSettings(form),
  });
}

form.addEventListener('input', update);
form.addEventListener('change', update);
for (const chip of form.querySelectorAll<HTMLButtonElement>('[data-scale]')) {
  chip.addEventListener('click', () => {
    byId<HTMLInputElement>('scale').value = chip.dataset.scale ?? '4';
    update();
  });
}

// ---- running --------------------------------------------------------------------------

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  clearError();
  try {
    await uploading;
    if (!source) return;
    const settings = readSettings(form);
    const job = await api.call<Job>('POST', '/v1/upscale', { image: source.image, ...settings });
    rememberJob(job.id, { image: source.image, name: source.name, settings, at: Date.now() });
    void follow(job, source);
    void refreshRecent();
  } catch (err) {
    showError(err);
  }
});

/** Follow a job's events to its end: progress, then the result, the error, or "canceled". */
async function follow(job: Job, from: Source | null): Promise<void> {
  following?.abort();
  const controller = new AbortController();
  following = controller;
  shown = job;
  const box = byId('progress-box');
  const bar = byId<HTMLProgressElement>('progress');
  const status = byId('status');
  box.hidden = false;
  byId<HTMLButtonElement>('cancel').hidden = false;
  let last: Job = job;
  const render = () => {
    bar.value = last.progress;
    const eta = last.eta_seconds && last.status === 'running' ? ` · ${seconds(last.eta_seconds)} left` : '';
    status.textContent = `${last.status[0]!.toUpperCase()}${last.status.slice(1)} · ${Math.round(last.progress * 100)}%${eta}`;
  };
  render();
  try {
    for await (const u of api.events(job.id, controller.signal)) {
      last = { ...last, ...u };
      render();
    }
  } catch (err) {
    if (controller.signal.aborted) return;
    showError(err);
  }
  if (controller.signal.aborted) return;
  byId<HTMLButtonElement>('cancel').hidden = true;
  if (!TERMINAL.includes(last.status)) return;
  if (last.status === 'succeeded') showResult(compare, last, from);
  else if (last.error) showError(new ApiError(0, last.error.code, last.error.message));
  void refreshRecent();
}

byId('cancel').addEventListener('click', async () => {
  if (!shown) return;
  try {
    await api.call('POST', `/v1/jobs/${shown.id}/cancel`);
  } catch (err) {
    showError(err);
  }
});

// ---- recent jobs ----------------------------------------------------------------------

/** The source a remembered job was made from, with its original if this browser kept it. */
async function recall(record: JobRecord): Promise<Source> {
  if (!record.image.startsWith('upl_')) {
    return { image: record.image, name: record.name, kind: 'url', preview: record.image };
  }
  const file = await original(record.image);
  return {
    image: record.image,
    name: record.name,
    kind: 'file',
    preview: file ? URL.createObjectURL(file) : null,
    ...(file ? { bytes: file.size } : {}),
  };
}

async function refreshRecent(): Promise<void> {
  try {
    const { data } = await api.call<{ data: Job[] }>('GET', '/v1/jobs?limit=12');
    renderRecent(byId('recent'), data, jobRecords(), {
      open: async (job) => {
        const record = jobRecords()[job.id];
        const from = record ? await recall(record) : null;
        following?.abort();
        byId('progress-box').hidden = true;
        if (!TERMINAL.includes(job.status)) return void follow(job, from);
        shown = job;
        if (job.status === 'succeeded') showResult(compare, job, from);
        else if (job.error) showError(new ApiError(0, job.error.code, job.error.message));
        byId('viewer').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
      },
      rerun: async (job, record) => {
        // Settings first, in the click itself: written after the await below, they overwrote
        // whatever the user changed while the original was being looked up (issue 16).
        writeSettings(form, record.settings);
        const seq = ++rerunSeq;
        form.dataset.rerun = 'loading';
        const from = await recall(record);
        if (seq !== rerunSeq) return; // a newer Re-run (or another image) took over meanwhile
        setSource(from, from.preview ? job.input : null);
        byId('source-info').textContent += ' · settings loaded: change them and press Upscale';
        form.dataset.rerun = 'loaded';
        byId('run').focus();
      },
    });
  } catch (err) {
    showError(err);
  }
}

byId('recent-refresh').addEventListener('click', () => void refreshRecent());
byId('zoom-fit').addEventListener('click', () => compare.fit());
byId('zoom-1').addEventListener('click', () => compare.zoomTo(1 / devicePixelRatio));
byId('zoom-in').addEventListener('click', () => compare.zoomBy(1.25));
byId('zoom-out').addEventListener('click', () => compare.zoomBy(0.8));

update();
void start();
