/**
 * The address half of the SSRF defence shared by fetchUrl (GET an image) and safeRequest (POST a
 * webhook, PUT a result): parse the URL (http(s) only, no credentials), resolve its host once,
 * refuse it if any address is forbidden, and name the one address the connection is pinned to.
 */
import dns from 'node:dns';
import net from 'node:net';
import { invalidArgument, PixeliftError } from '../errors.js';
import { abortable } from './deadline.js';
import { isForbiddenAddress, isForbiddenHostname } from './forbidden-address.js';

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

export type Lookup = (host: string) => Promise<ResolvedAddress[]>;

/** What resolveChecked needs: the policy and the resolver. */
export interface TargetPolicy {
  readonly allowPrivate: boolean | PrivateAddressPolicy;
  readonly lookup: Lookup;
}

/** The address a request was checked against and will connect to. */
export interface Pinned {
  host: string;
  port: number;
  address: string;
  family: 4 | 6;
}

export function checkAllowPrivate(allowPrivate: unknown): void {
  if (typeof allowPrivate !== 'boolean' && typeof allowPrivate !== 'function') {
    throw invalidArgument('allowPrivate', 'boolean or function', allowPrivate);
  }
}

export async function defaultLookup(host: string): Promise<ResolvedAddress[]> {
  const found = await dns.promises.lookup(host, { all: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

/** `raw` as an http(s) URL without credentials; `base` resolves a relative redirect Location. */
export function parseTarget(raw: string, base?: URL): URL {
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
 * Resolve the target's host once, refuse if any of its addresses is forbidden (a name that
 * resolves to both a public and a private address is refused: which one a connection would use
 * is the attacker's choice), and return the address the connection is pinned to.
 */
export async function resolveChecked(
  target: URL,
  policy: TargetPolicy,
  signal: AbortSignal,
): Promise<Pinned> {
  const { allowPrivate } = policy;
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
      addresses = await abortable(policy.lookup(host), signal);
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
