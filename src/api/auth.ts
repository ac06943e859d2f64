/**
 * Auth (DESIGN §5): with no live keys the server is in open mode (and bound to loopback by the
 * boot check); with keys, every API route needs one, as `Authorization: Bearer <key>`,
 * `X-API-Key: <key>`, `Key <key>` (fal), `Token <key>` (Replicate) or Basic auth with the key as the user name (Scenario's clients send
 * key:secret, so the password is tried too).
 */
import type { FastifyRequest } from 'fastify';
import { PixeliftError } from '../errors.js';
import type { Caller } from '../jobs/service.js';
import type { KeyStore } from '../jobs/store.js';

/** Candidate secrets a request carries, in the order they are tried. */
export function presentedKeys(request: FastifyRequest): string[] {
  const found: string[] = [];
  const auth = request.headers.authorization;
  if (auth) {
    const [scheme, value = ''] = auth.split(/\s+/, 2);
    // `Key` is fal's client's scheme, `Token` Replicate's older one.
    if (/^(?:bearer|key|token)$/i.test(scheme ?? '')) found.push(value.trim());
    else if (/^basic$/i.test(scheme ?? '')) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = i < 0 ? decoded : decoded.slice(0, i);
      const pass = i < 0 ? '' : decoded.slice(i + 1);
      found.push(user, pass);
    } else found.push(auth.trim()); // a bare key, as some providers' clients send it
  }
  const x = request.headers['x-api-key'];
  if (typeof x === 'string') found.push(x.trim());
  return found.filter((k) => k.length > 0);
}

/** The caller's key; with no live key at all, open mode where `openWithoutKeys` allows it. */
export async function authenticate(
  request: FastifyRequest,
  keys: KeyStore,
  openWithoutKeys: boolean,
): Promise<Caller> {
  // A valid key answers in one lookup; the count (open mode) is asked only when none matched.
  for (const secret of presentedKeys(request)) {
    const key = await keys.authenticate(secret);
    if (key) return { keyId: key.id, admin: key.admin };
  }
  // Open mode (loopback, no live key at all) is one trusted user: it may manage models too.
  if (openWithoutKeys && (await keys.count()) === 0) return { keyId: null, admin: true };
  throw new PixeliftError('unauthorized');
}
