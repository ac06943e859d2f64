/**
 * Blob storage behind one interface: the filesystem in the embedded mode (fs-store.ts), any
 * S3-compatible store in scale-out (issue 7). Keys are relative paths such as
 * `inputs/job_….bin` or `results/job_….png`; they never come from a client.
 */
import type { Readable } from 'node:stream';

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
