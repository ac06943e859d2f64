/**
 * Fetch an image URL sent by an untrusted client without letting it reach this machine or its
 * network (SSRF): http(s) only, no credentials, every resolved address checked, the connection
 * pinned to the checked address, every redirect target checked again, bytes and time bounded.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { invalidArgument, isPixeliftError, PixeliftError } from '../errors.js';
import { isForbiddenAddress, isForbiddenHostname } from './forbidden-address.js';

export { isForbiddenAddress, isForbiddenHostname } from './forbidden-address.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Admits a private endpoint that the address check would refuse. Production passes a boolean
 * (config.allowPrivateUrls). The predicate exists so that tests can let exactly one loopback
 * server stand in for a public host, `(ip, port) => ip === '127.0.0.1' && port === port0`, and
 * still watch every other private address be refused; its only effect is to admit what it
 * names, so it cannot weaken the check for anything else. Host names such as `localhost` stay
 * refused unless this is `true`.
 */
export type PrivateAddressPolicy = (address: string, port: number) => boolean;

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
  lookup?: (host: string) => Promise<ResolvedAddress[]>;
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

/** The address a hop was checked against and will connect to. */
interface Pinned {
  host: string;
  port: number;
  address: string;
  family: 4 | 6;
}

type Hop =
  | { kind: 'body'; data: Buffer; contentType: string | undefined }
  | { kind: 'redirect'; location: string };

type Settings = Required<Omit<FetchUrlOptions, 'signal'>> & { signal: AbortSignal | undefined };

export async function fetchUrl(url: string, options: FetchUrlOptions): Promise<FetchedUrl> {
  const settings = validate(options);
  const deadline = startDeadline(url, settings);
  try {
    let target = parseTarget(url);
    for (let redirects = 0; ; redirects++) {
      deadline.signal.throwIfAborted();
      const pinned = await resolveChecked(target, settings, deadline.signal);
      const hop = await get(target, pinned, settings, deadline.signal);
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
  const { allowPrivate, maxBytes, timeoutMs, maxRedirects } = s;
  if (typeof allowPrivate !== 'boolean' && typeof allowPrivate !== 'function') {
    throw invalidArgument('allowPrivate', 'boolean or function', allowPrivate);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw invalidArgument('maxBytes', 'positive integer', maxBytes);
  }
  // setTimeout fires at once for delays above 2^31 - 1 ms, which would turn a long limit into none.
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
    throw invalidArgument('timeoutMs', 'number of ms in (0, 2147483647]', timeoutMs);
  }
  if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0) {
    throw invalidArgument('maxRedirects', 'non-negative integer', maxRedirects);
  }
  return s;
}

async function defaultLookup(host: string): Promise<ResolvedAddress[]> {
  const found = await dns.promises.lookup(host, { all: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

/**
 * One signal for the whole fetch: it aborts with url_timeout when the total time runs out (so a
 * slow-drip server or a long redirect chain cannot hold a worker) and with `canceled` when the
 * caller's signal fires.
 */
function startDeadline(url: string, settings: Settings): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const { timeoutMs, signal } = settings;
  const timer = setTimeout(
    () => controller.abort(new PixeliftError('url_timeout', { url, timeoutMs })),
    timeoutMs,
  );
  const onCancel = () => controller.abort(new PixeliftError('canceled', {}, { cause: signal?.reason }));
  if (signal?.aborted) onCancel();
  else signal?.addEventListener('abort', onCancel, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
    },
  };
}

function parseTarget(raw: string, base?: URL): URL {
  const shown =
    base === undefined ? raw.slice(0, 200) : `${raw.slice(0, 200)} (redirected from ${base.href})`;
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new PixeliftError('url_invalid', { url: shown, reason: 'it is not a valid absolute URL' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PixeliftError('url_invalid', {
      url: shown,
      reason: `the ${url.protocol.slice(0, -1)}: scheme is not supported; use http or https`,
    });
  }
  if (url.username !== '' || url.password !== '') {
    throw new PixeliftError('url_invalid', {
      url: shown.replace(/\/\/[^/@]*@/, '//***@'),
      reason: 'credentials in the URL (user:password@) are not accepted',
    });
  }
  return url;
}

/**
 * Resolve the hop's host once, refuse if any of its addresses is forbidden (a name that resolves
 * to both a public and a private address is refused: which one a connection would use is the
 * attacker's choice), and return the address the connection is pinned to.
 */
async function resolveChecked(target: URL, settings: Settings, signal: AbortSignal): Promise<Pinned> {
  const { allowPrivate } = settings;
  // URL keeps IPv6 literals in brackets; WHATWG parsing has already turned every IPv4 spelling
  // (2130706433, 0x7f.1, 0177.0.0.1, 127.1) into dotted decimal.
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
  const refuse = (address: string, reason: string) =>
    new PixeliftError('url_forbidden', { url: target.href, host, address, reason });

  if (allowPrivate !== true) {
    const reason = isForbiddenHostname(host);
    if (reason !== undefined) throw refuse(host, reason);
  }

  let addresses: ResolvedAddress[];
  const literal = net.isIP(host);
  if (literal !== 0) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await abortable(settings.lookup(host), signal);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const code = (err as NodeJS.ErrnoException).code;
      throw new PixeliftError(
        'url_fetch_failed',
        { url: target.href, reason: `cannot resolve ${host}${code ? ` (${code})` : ''}` },
        { cause: err },
      );
    }
  }
  if (addresses.length === 0) {
    throw new PixeliftError('url_fetch_failed', {
      url: target.href,
      reason: `${host} resolves to no address`,
    });
  }

  for (const { address } of addresses) {
    if (net.isIP(address) === 0) {
      throw new PixeliftError('url_fetch_failed', {
        url: target.href,
        reason: `the resolver returned ${JSON.stringify(address)} for ${host}, which is not an IP address`,
      });
    }
    if (allowPrivate === true) continue;
    const reason = isForbiddenAddress(address);
    if (reason === undefined || (allowPrivate !== false && allowPrivate(address, port))) continue;
    // For a name, say neither the address nor its class: the message reaches the client, and
    // naming what internal names resolve to would let the API be used to map the private network.
    throw address === host
      ? refuse(address, reason)
      : refuse(host, 'a name that resolves to a private or local address');
  }

  const first = addresses[0]!;
  return { host, port, address: first.address, family: net.isIP(first.address) === 6 ? 6 : 4 };
}

/**
 * The `lookup` handed to http(s).request: it answers with the address that was checked, so the
 * socket connects there and nowhere else (a second DNS answer, as in DNS rebinding, is never
 * asked for), while Host, SNI and certificate checks still use the URL's host name. Node calls it
 * with `all: true` when it may race address families (autoSelectFamily).
 */
function pinnedLookup(pinned: Pinned): net.LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
}

function get(target: URL, pinned: Pinned, settings: Settings, signal: AbortSignal): Promise<Hop> {
  const { maxBytes } = settings;
  const url = target.href;
  return new Promise<Hop>((resolve, reject) => {
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request({
      protocol: target.protocol,
      hostname: pinned.host,
      port: pinned.port,
      path: `${target.pathname}${target.search}`,
      method: 'GET',
      headers: { accept: 'image/*, */*;q=0.5', 'user-agent': 'Pixelift' },
      lookup: pinnedLookup(pinned),
      // A fresh connection per hop: a pooled socket could have been opened to another address
      // under another policy.
      agent: false,
    });

    let settled = false;
    const finish = (outcome: { ok: Hop } | { error: unknown }) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      if ('ok' in outcome) resolve(outcome.ok);
      else reject(outcome.error);
    };
    const fail = (err: unknown) => {
      if (signal.aborted) finish({ error: signal.reason });
      else if (isPixeliftError(err)) finish({ error: err });
      else {
        const reason = err instanceof Error ? err.message : String(err);
        finish({ error: new PixeliftError('url_fetch_failed', { url, reason }, { cause: err }) });
      }
    };
    const onAbort = () => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();

    req.on('error', fail);
    req.on('response', (res) => {
      res.on('error', fail);
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status)) {
        const location = res.headers.location;
        if (location === undefined || location === '') {
          fail(
            new PixeliftError('url_fetch_failed', {
              url,
              status,
              reason: `HTTP ${status} without a Location`,
            }),
          );
        } else {
          finish({ ok: { kind: 'redirect', location } });
        }
        return;
      }
      if (status < 200 || status > 299) {
        fail(
          new PixeliftError('url_fetch_failed', {
            url,
            status,
            reason: `the server answered HTTP ${status}`,
          }),
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
        finish({
          ok: {
            kind: 'body',
            data: Buffer.concat(chunks, received),
            contentType: res.headers['content-type'],
          },
        }),
      );
      res.on('close', () => {
        if (!res.complete) fail(new Error('the connection closed before the body was complete'));
      });
    });
    req.end();
  });
}

/** `promise`, or the signal's reason as soon as it aborts (dns.lookup cannot be canceled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
