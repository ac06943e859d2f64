/**
 * POST or PUT to a URL a client gave us (a webhook receiver, a result `upload_url`) with the same
 * SSRF defence as fetchUrl: the same URL rules, every resolved address checked, the connection
 * pinned to the checked address, time bounded. Redirects are not followed: a 3xx comes back as
 * the answer, because re-sending a body to wherever a receiver points is not what the client
 * asked for (and 301/302/303 would turn it into a GET anyway, RFC 9110 §15.4).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { invalidArgument } from '../errors.js';
import {
  checkAllowPrivate,
  defaultLookup,
  type Lookup,
  type PrivateAddressPolicy,
  parseTarget,
  resolveChecked,
} from './checked-target.js';
import { checkTimeout, startDeadline } from './deadline.js';
import { sendPinned } from './pinned-request.js';

export interface SafeRequestOptions {
  method: 'POST' | 'PUT';
  /** Names are sent lower-cased; Content-Length is always set from the body. */
  headers?: Readonly<Record<string, string>>;
  body: Buffer | string;
  /** PIXELIFT_ALLOW_PRIVATE_URLS; see PrivateAddressPolicy for the predicate form. */
  allowPrivate: boolean | PrivateAddressPolicy;
  /** Total time: resolution, connection, sending and reading the answer, ms. */
  timeoutMs?: number;
  /**
   * Bytes of the answer's body kept; the rest is dropped and the connection closed, without
   * error: callers want the status and perhaps a short explanation, never a large download.
   */
  maxResponseBytes?: number;
  signal?: AbortSignal;
  /** Resolves a host name to all its addresses; tests inject one. */
  lookup?: Lookup;
}

export interface SafeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** True when the body was cut at maxResponseBytes. */
  truncated: boolean;
}

export const SAFE_REQUEST_DEFAULTS = {
  timeoutMs: 30_000, // ms, whole exchange
  maxResponseBytes: 64 * 1024, // bytes of the answer kept
};

export async function safeRequest(url: string, options: SafeRequestOptions): Promise<SafeResponse> {
  const { method, allowPrivate, signal } = options;
  const timeoutMs = options.timeoutMs ?? SAFE_REQUEST_DEFAULTS.timeoutMs;
  const maxResponseBytes = options.maxResponseBytes ?? SAFE_REQUEST_DEFAULTS.maxResponseBytes;
  if (method !== 'POST' && method !== 'PUT') throw invalidArgument('method', '"POST" or "PUT"', method);
  checkAllowPrivate(allowPrivate);
  checkTimeout(timeoutMs);
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw invalidArgument('maxResponseBytes', 'non-negative integer', maxResponseBytes);
  }
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : options.body;
  if (!Buffer.isBuffer(body)) throw invalidArgument('body', 'Buffer or string', options.body);
  const headers: Record<string, string> = { 'user-agent': 'Pixelift' };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  headers['content-length'] = String(body.length);

  const deadline = startDeadline(url, timeoutMs, signal);
  try {
    const target = parseTarget(url);
    deadline.signal.throwIfAborted();
    const pinned = await resolveChecked(
      target,
      { allowPrivate, lookup: options.lookup ?? defaultLookup },
      deadline.signal,
    );
    return await sendPinned<SafeResponse>(
      target,
      pinned,
      { method, headers, body },
      deadline.signal,
      (res, { ok }) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const done = (truncated: boolean) =>
          ok({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks, kept),
            truncated,
          });
        res.on('data', (chunk: Buffer) => {
          const room = maxResponseBytes - kept;
          if (chunk.length <= room) {
            chunks.push(chunk);
            kept += chunk.length;
            return;
          }
          chunks.push(chunk.subarray(0, room));
          kept += room;
          // Settling closes the socket: the rest of a large answer is never read.
          done(true);
        });
        res.on('end', () => done(false));
      },
    );
  } finally {
    deadline.clear();
  }
}
