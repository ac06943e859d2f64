/**
 * Fetch an image URL sent by an untrusted client without letting it reach this machine or its
 * network (SSRF): http(s) only, no credentials, every resolved address checked, the connection
 * pinned to the checked address, every redirect target checked again, bytes and time bounded.
 * The address checks and the pinned connection live in checked-target.ts and pinned-request.ts,
 * shared with safeRequest (webhooks, result uploads).
 */
import { invalidArgument, PixeliftError } from '../errors.js';
import {
  checkAllowPrivate,
  defaultLookup,
  type Lookup,
  type Pinned,
  type PrivateAddressPolicy,
  parseTarget,
  resolveChecked,
} from './checked-target.js';
import { checkTimeout, startDeadline } from './deadline.js';
import { sendPinned } from './pinned-request.js';

export type { PrivateAddressPolicy, ResolvedAddress } from './checked-target.js';
export { isForbiddenAddress, isForbiddenHostname } from './forbidden-address.js';

export interface FetchUrlOptions {
  /** PIXELIFT_ALLOW_PRIVATE_URLS; see PrivateAddressPolicy for the predicate form. */
  allowPrivate: boolean | PrivateAddressPolicy;
  /** Largest body, bytes: checked against Content-Length up front and while streaming. */
  maxBytes: number;
  /** Total time for the fetch, redirects included, ms. */
  timeoutMs?: number;
  /** Redirects followed before giving up. */
  maxRedirects?: number;
  signal?: AbortSignal;
  /** Resolves a host name to all its addresses; tests inject one. */
  lookup?: Lookup;
}

export interface FetchedUrl {
  data: Buffer;
  contentType: string | undefined;
  /** The URL the body came from, after redirects. */
  finalUrl: string;
}

export const FETCH_DEFAULTS = {
  timeoutMs: 30_000, // ms, whole fetch
  maxRedirects: 5,
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type Hop =
  | { kind: 'body'; data: Buffer; contentType: string | undefined }
  | { kind: 'redirect'; location: string };

type Settings = Required<Omit<FetchUrlOptions, 'signal'>> & { signal: AbortSignal | undefined };

export async function fetchUrl(url: string, options: FetchUrlOptions): Promise<FetchedUrl> {
  const settings = validate(options);
  const deadline = startDeadline(url, settings.timeoutMs, settings.signal);
  try {
    let target = parseTarget(url);
    for (let redirects = 0; ; redirects++) {
      deadline.signal.throwIfAborted();
      const pinned = await resolveChecked(target, settings, deadline.signal);
      const hop = await get(target, pinned, settings.maxBytes, deadline.signal);
      if (hop.kind === 'body') return { data: hop.data, contentType: hop.contentType, finalUrl: target.href };
      if (redirects >= settings.maxRedirects) {
        throw new PixeliftError('url_fetch_failed', {
          url,
          reason: `more than ${settings.maxRedirects} redirects`,
        });
      }
      // Every redirect target goes through the same checks as the URL the client sent.
      target = parseTarget(hop.location, target);
    }
  } finally {
    deadline.clear();
  }
}

function validate(options: FetchUrlOptions): Settings {
  const s: Settings = {
    allowPrivate: options.allowPrivate,
    maxBytes: options.maxBytes,
    timeoutMs: options.timeoutMs ?? FETCH_DEFAULTS.timeoutMs,
    maxRedirects: options.maxRedirects ?? FETCH_DEFAULTS.maxRedirects,
    lookup: options.lookup ?? defaultLookup,
    signal: options.signal,
  };
  checkAllowPrivate(s.allowPrivate);
  if (!Number.isSafeInteger(s.maxBytes) || s.maxBytes < 1) {
    throw invalidArgument('maxBytes', 'positive integer', s.maxBytes);
  }
  checkTimeout(s.timeoutMs);
  if (!Number.isSafeInteger(s.maxRedirects) || s.maxRedirects < 0) {
    throw invalidArgument('maxRedirects', 'non-negative integer', s.maxRedirects);
  }
  return s;
}

function get(target: URL, pinned: Pinned, maxBytes: number, signal: AbortSignal): Promise<Hop> {
  const url = target.href;
  const request = {
    method: 'GET',
    headers: { accept: 'image/*, */*;q=0.5', 'user-agent': 'Pixelift' },
  } as const;
  return sendPinned<Hop>(target, pinned, request, signal, (res, { ok, fail }) => {
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status)) {
      const location = res.headers.location;
      if (location === undefined || location === '') {
        fail(
          new PixeliftError('url_fetch_failed', { url, status, reason: `HTTP ${status} without a Location` }),
        );
      } else {
        ok({ kind: 'redirect', location });
      }
      return;
    }
    if (status < 200 || status > 299) {
      fail(
        new PixeliftError('url_fetch_failed', { url, status, reason: `the server answered HTTP ${status}` }),
      );
      return;
    }
    const tooLarge = (what: string) =>
      new PixeliftError('image_too_large', {
        url,
        limit: maxBytes,
        reason: `${what} (limit ${maxBytes} bytes)`,
      });
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      fail(tooLarge(`${url} declares ${declared} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Stop the socket at the first byte over the limit, not after the whole body arrived.
      if (received > maxBytes) fail(tooLarge(`${url} sent more than ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    res.on('end', () =>
      ok({ kind: 'body', data: Buffer.concat(chunks, received), contentType: res.headers['content-type'] }),
    );
  });
}
