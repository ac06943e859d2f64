/**
 * The native API as the page calls it (docs/api.md): the key on every call, the error
 * envelope turned into an ApiError, and SSE read over fetch — EventSource cannot send an
 * Authorization header, and a server with keys needs one on /v1/jobs/:id/events.
 */

export interface Model {
  id: string;
  name: string;
  kind: 'faithful' | 'gan' | 'fast' | 'classical';
  purpose: string;
  scales: number[] | null;
  default: boolean;
  input_kpx_per_second: number | null;
  credits_per_megapixel: number;
  license: string;
}

export interface ImageInfo {
  width: number;
  height: number;
  format: string;
  bytes?: number;
}

export interface Upload extends ImageInfo {
  id: string;
  bytes: number;
  content_type: string;
}

export interface Estimate {
  model: { requested: string | null; used: string };
  input: ImageInfo;
  output: ImageInfo;
  cost: number;
  run_seconds: number;
  eta_seconds: number;
  warnings: string[];
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'expired';

export interface Job {
  id: string;
  status: JobStatus;
  progress: number;
  eta_seconds: number | null;
  model: { requested: string | null; used: string };
  input: ImageInfo;
  output: ImageInfo;
  cost: number;
  warnings: string[];
  error: { code: string; message: string } | null;
  result: {
    url: string;
    bytes: number;
    width: number;
    height: number;
    format: string;
    /** Faces found (input pixels), when the job asked for faces. */
    faces?: { box: { x: number; y: number; width: number; height: number }; score: number }[];
  } | null;
  timings: { run_ms?: number };
  created_at: string;
}

/** What an SSE `progress` event carries; every other event carries the whole job. */
export type JobUpdate = Pick<Job, 'id' | 'status' | 'progress' | 'eta_seconds'> & Partial<Job>;

export const TERMINAL: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'expired'];

/** An error the API answered with, or `network` when no answer came. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

export class Api {
  key = '';

  private headers(extra: Record<string, string> = {}): Headers {
    const headers = new Headers(extra);
    if (this.key) headers.set('authorization', `Bearer ${this.key}`);
    return headers;
  }

  /** A JSON call; `body` as an object is sent as JSON, a Blob as its own bytes. */
  async call<T>(method: string, path: string, body?: object | Blob, signal?: AbortSignal): Promise<T> {
    const headers = this.headers();
    let payload: BodyInit | undefined;
    if (body instanceof Blob) {
      headers.set('content-type', body.type || 'application/octet-stream');
      payload = body;
    } else if (body !== undefined) {
      headers.set('content-type', 'application/json');
      payload = JSON.stringify(body);
    }
    const res = await send(path, { method, headers, body: payload, signal });
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) throw toApiError(res.status, data);
    return data as T;
  }

  /**
   * The job's events (history, then live) until its final one; reconnects with Last-Event-ID
   * if the stream drops early, so no update is missed or repeated.
   */
  async *events(jobId: string, signal: AbortSignal): AsyncGenerator<JobUpdate> {
    let lastId = 0;
    for (let attempt = 0; attempt < 5 && !signal.aborted; attempt++) {
      const res = await send(`/v1/jobs/${jobId}/events?last_event_id=${lastId}`, {
        headers: this.headers({ accept: 'text/event-stream' }),
        signal,
      });
      if (!res.ok || !res.body) throw toApiError(res.status, await res.json().catch(() => undefined));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          const event = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (!event) continue;
          lastId = event.id;
          yield event.data;
          if (TERMINAL.includes(event.data.status)) return;
        }
      }
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
  }
}

async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `The server did not answer (${(err as Error).message}).`);
  }
}

function toApiError(status: number, data: unknown): ApiError {
  const e = (data as { error?: { code?: string; message?: string; param?: string } } | undefined)?.error;
  if (e?.code) return new ApiError(status, e.code, e.message ?? '', e.param);
  return new ApiError(status, `http_${status}`, `The server answered HTTP ${status}.`);
}

function parseEvent(block: string): { id: number; data: JobUpdate } | undefined {
  let id = 0;
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('id:')) id = Number(line.slice(3).trim());
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  return data ? { id, data: JSON.parse(data) as JobUpdate } : undefined;
}
