/**
 * What this browser remembers between visits. The API keeps a job's result but hands back
 * neither its input nor its settings, so the page keeps them itself to re-open and re-run
 * its jobs: the key and each job's image reference and settings in localStorage, the
 * original files in IndexedDB (images are too big for localStorage's ~5 MB).
 * Storage can be missing or full (private windows); the page then just remembers less.
 */
import type { Settings } from './settings.js';

const KEY = 'pixelift.apiKey';
const JOBS = 'pixelift.jobs';
/** Jobs and originals kept; older ones are forgotten first. */
const KEEP_JOBS = 50;
const KEEP_ORIGINALS = 20;

export interface JobRecord {
  /** What was sent as `image`: an upload id or a URL. */
  readonly image: string;
  /** The file name, or the URL's last segment. */
  readonly name: string;
  readonly settings: Settings;
  readonly at: number;
}

export function savedKey(): string {
  return localStorage.getItem(KEY) ?? '';
}

export function saveKey(key: string): void {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

export function jobRecords(): Record<string, JobRecord> {
  try {
    return JSON.parse(localStorage.getItem(JOBS) ?? '{}') as Record<string, JobRecord>;
  } catch {
    return {};
  }
}

export function rememberJob(id: string, record: JobRecord): void {
  const all = Object.entries({ ...jobRecords(), [id]: record })
    .sort(([, a], [, b]) => b.at - a.at)
    .slice(0, KEEP_JOBS);
  try {
    localStorage.setItem(JOBS, JSON.stringify(Object.fromEntries(all)));
  } catch {
    // Quota exceeded: the job runs all the same; it just cannot be re-run from the list.
  }
}

function db(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('pixelift-playground', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('originals');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(req: IDBRequest | IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    if (req instanceof IDBTransaction) req.oncomplete = () => resolve();
    else req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
  });
}

/** Keep an uploaded file under its upload id, forgetting the oldest beyond KEEP_ORIGINALS. */
export async function keepOriginal(uploadId: string, file: Blob): Promise<void> {
  try {
    const d = await db();
    const tx = d.transaction('originals', 'readwrite');
    const store = tx.objectStore('originals');
    store.put({ file, at: Date.now() }, uploadId);
    const all = store.getAll();
    const keys = store.getAllKeys();
    await done(keys);
    const byAge = keys.result
      .map((k, i) => ({ k, at: (all.result[i] as { at: number }).at }))
      .sort((a, b) => b.at - a.at);
    for (const { k } of byAge.slice(KEEP_ORIGINALS)) store.delete(k);
    await done(tx);
  } catch {
    // No IndexedDB here: re-opened jobs show the result without the original.
  }
}

export async function original(uploadId: string): Promise<Blob | undefined> {
  try {
    const d = await db();
    const req = d.transaction('originals').objectStore('originals').get(uploadId);
    await done(req);
    return (req.result as { file: Blob } | undefined)?.file;
  } catch {
    return undefined;
  }
}
