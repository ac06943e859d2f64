/**
 * The connection half of the SSRF defence shared by fetchUrl and safeRequest: one HTTP(S)
 * exchange whose socket can only connect to the address resolveChecked approved, settled exactly
 * once, and torn down as soon as it is settled or its deadline fires.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { isPixeliftError, PixeliftError } from '../errors.js';
import type { Pinned } from './checked-target.js';

export interface PinnedRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly headers: http.OutgoingHttpHeaders;
  readonly body?: Buffer;
}

/** Ends the exchange: the first call wins, later ones are ignored, and the socket is closed. */
export interface Settle<T> {
  ok(value: T): void;
  fail(err: unknown): void;
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

/**
 * Send `request` to `target` over a connection pinned to `pinned` and hand the response to
 * `onResponse`, which settles the exchange. Errors that are not PixeliftErrors become
 * url_fetch_failed; once `signal` aborts, its reason (url_timeout, canceled) is the outcome.
 */
export function sendPinned<T>(
  target: URL,
  pinned: Pinned,
  request: PinnedRequest,
  signal: AbortSignal,
  onResponse: (res: http.IncomingMessage, settle: Settle<T>) => void,
): Promise<T> {
  const url = target.href;
  return new Promise<T>((resolve, reject) => {
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request({
      protocol: target.protocol,
      hostname: pinned.host,
      port: pinned.port,
      path: `${target.pathname}${target.search}`,
      method: request.method,
      headers: request.headers,
      lookup: pinnedLookup(pinned),
      // A fresh connection per request: a pooled socket could have been opened to another
      // address under another policy.
      agent: false,
    });

    let settled = false;
    const finish = (outcome: { ok: T } | { error: unknown }) => {
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
      res.on('close', () => {
        if (!res.complete) fail(new Error('the connection closed before the body was complete'));
      });
      onResponse(res, { ok: (value) => finish({ ok: value }), fail });
    });
    req.end(request.body);
  });
}
