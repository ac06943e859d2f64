/**
 * Blob storage behind one interface: the filesystem in the embedded mode (fs-store.ts), any
 * S3-compatible store in scale-out (issue 7). Keys are relative paths such as
 * `inputs/job_….bin` or `results/job_….png`; they never come from a client.
 */
import type { Readable } from 'node:stream';
import { invalidArgument } from '../errors.js';

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

export interface BlobStore {
  put(key: string, data: Buffer, contentType?: string): Promise<void>;
  /** The whole blob; rejects with blob_not_found when absent. */
  get(key: string): Promise<Buffer>;
  /** Size in bytes, or undefined when absent. */
  size(key: string): Promise<number | undefined>;
  /** A stream of the blob or of one range of it; rejects with blob_not_found when absent. */
  stream(key: string, range?: ByteRange): Promise<Readable>;
  /** Remove; absent keys are not an error. */
  delete(key: string): Promise<void>;
}

/**
 * Keys are relative POSIX paths: no leading `/`, no `\`, no NUL, and no empty, `.` or `..`
 * segment. Rejected rather than normalised: keys come from our own code, so an odd one is a bug
 * to surface, not input to repair. Every store checks them the same way.
 */
export function checkBlobKey(key: string): void {
  const bad =
    typeof key !== 'string' ||
    key === '' ||
    /[\\\0]/.test(key) ||
    key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad) throw badBlobKey(key);
}

export function badBlobKey(key: unknown) {
  return invalidArgument(
    'key',
    'relative POSIX path without empty, "." or ".." segments or backslashes',
    key,
  );
}

export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0)
    throw invalidArgument('range.start', 'non-negative integer', start);
  if (!Number.isSafeInteger(end) || end < start)
    throw invalidArgument('range.end', `integer ≥ start (${start})`, end);
}
