/** Shared by the tests of outbound requests (fetchUrl, safeRequest): a table resolver and an error catcher. */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ResolvedAddress } from '../../src/delivery/fetch-url.js';
import { type ErrorCode, isPixeliftError, type PixeliftError } from '../../src/errors.js';

/** A resolver that answers from a table (names absent from it do not exist) and logs its calls. */
export function fakeDns(table: Record<string, string[] | ((call: number) => string[])>) {
  const calls: string[] = [];
  const lookup = async (host: string): Promise<ResolvedAddress[]> => {
    calls.push(host);
    const entry = table[host];
    if (entry === undefined)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    const addresses = typeof entry === 'function' ? entry(calls.filter((h) => h === host).length) : entry;
    return addresses.map((address) => ({ address, family: net.isIP(address) === 6 ? 6 : 4 }));
  };
  return { lookup, calls };
}

/** Awaits a rejection and checks its registry code; returns the error for further assertions. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<PixeliftError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(isPixeliftError(caught, code), `expected ${code}, got ${String(caught)}`);
  return caught;
}
