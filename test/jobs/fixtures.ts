/** A minimal valid Job and instants to put in any store, whatever its backend. */
import { randomUUID } from 'node:crypto';
import type { Job, JobResult } from '../../src/jobs/types.js';

export const T0 = new Date('2026-01-01T00:00:00.000Z');

/** `ms` after T0. */
export function at(ms: number): Date {
  return new Date(T0.getTime() + ms);
}

/** A stored result, as a succeeded job holds it. */
export const RESULT: JobResult = {
  fileId: 'file_1',
  blobKey: 'results/job_1.png',
  contentType: 'image/png',
  bytes: 100,
  width: 256,
  height: 256,
  format: 'png',
};

export function makeJob(overrides: Partial<Job> = {}): Job {
  const id = overrides.id ?? `job_${randomUUID().replaceAll('-', '')}`;
  return {
    id,
    status: 'queued',
    progress: 0,
    etaSeconds: null,
    keyId: null,
    request: {
      inputBlob: `inputs/${id}.bin`,
      inputSource: 'inline',
      output: { type: 'url', ttlSeconds: 3600 },
      dialect: 'native',
    },
    model: { requested: null, used: 'realesrgan-x4fast', precision: 'fp32' },
    input: { width: 64, height: 64, format: 'png' },
    output: { width: 256, height: 256, format: 'png' },
    cost: 1,
    refunded: false,
    warnings: [],
    error: null,
    result: null,
    attempts: 0,
    metadata: null,
    timings: {},
    createdAt: T0.toISOString(),
    startedAt: null,
    finishedAt: null,
    expiresAt: null,
    ...overrides,
  };
}

/** The rejection of `promise`, which must reject. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}
