/**
 * Webhook and upload URLs are checked when the job is submitted, so that a client learns of a
 * bad one with a 400 rather than from a delivery log later: scheme, credentials, and a host
 * that is a forbidden literal address or name. Resolving the name is left to the moment of
 * delivery (safeRequest checks the resolved address again and pins the connection to it):
 * DNS may legitimately change between now and then.
 */
import net from 'node:net';
import { PixeliftError } from '../errors.js';
import { parseTarget } from './checked-target.js';
import { isForbiddenAddress, isForbiddenHostname } from './forbidden-address.js';

export function checkCallbackUrl(raw: string, param: string, allowPrivate: boolean): void {
  let url: URL;
  try {
    url = parseTarget(raw);
  } catch (err) {
    if (err instanceof PixeliftError)
      throw new PixeliftError(err.code, { ...err.details, param }, { cause: err });
    throw err;
  }
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const reason = net.isIP(host) ? isForbiddenAddress(host) : isForbiddenHostname(host);
  if (reason)
    throw new PixeliftError('url_forbidden', { url: raw.slice(0, 200), address: host, reason, param });
}
