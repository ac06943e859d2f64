/**
 * The real PostgreSQL and Redis that every dev and CI machine runs on loopback, isolated per
 * test: a schema of its own in PostgreSQL, a key prefix of its own in Redis, both removed when
 * the test file ends. The S3 store is an S3-protocol server (s3rver) started in this process.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import S3rver from '@20minutes/s3rver';
import { Redis } from 'ioredis';
import pg from 'pg';
import { tempDir } from './models.js';

export const TEST_DATABASE_URL =
  process.env.PIXELIFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.PIXELIFT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const schemas: string[] = [];
const prefixes: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (schemas.length > 0) {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  }
  if (prefixes.length > 0) {
    const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    await redis.connect();
    try {
      for (const prefix of prefixes) await deleteKeys(redis, prefix);
    } finally {
      redis.disconnect();
    }
  }
});

/** A schema name no other test uses (it is created by the first store opened on it, dropped after). */
export function testSchema(): string {
  const schema = `pixelift_t_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/** A Redis key prefix no other test uses (its keys are deleted after). */
export function testRedisPrefix(): string {
  const prefix = `pixelift-t-${randomBytes(6).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
}

/** Run `fn` when the test file ends, before the schemas and keys are removed. */
export function cleanupAfter(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** Delete every key under `prefix:` (SCAN, so Redis is never blocked by KEYS). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

export interface TestS3 {
  /** PIXELIFT_S3_URL for it: http://key:secret@127.0.0.1:port/bucket */
  readonly url: string;
  readonly bucket: string;
  close(): Promise<void>;
}

/** An S3-protocol server on a free loopback port, in this process, over a temp dir. */
export async function startTestS3(
  bucket = 'pixelift-test',
  options: { readonly checkSignatures?: boolean } = {},
): Promise<TestS3> {
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    // s3rver computes a different canonical request than SDK v3 for calls with a query string
    // (HeadBucket: SignatureDoesNotMatch, while PUT/GET/DELETE verify); the signing itself is
    // the SDK's business, not what these tests check — except the readiness test, which uses
    // exactly this to stand for a server that refuses HeadBucket but allows object calls.
    allowMismatchedSignatures: !options.checkSignatures,
    directory: tempDir('pixelift-s3-'),
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const address = (await server.run()) as AddressInfo;
  let closed: Promise<void> | undefined;
  const s3: TestS3 = {
    // s3rver accepts any credentials that are present; these are the ones its docs use.
    url: `http://S3RVER:S3RVER@127.0.0.1:${address.port}/${bucket}`,
    bucket,
    close: () => {
      closed ??= server.close() as Promise<void>;
      return closed;
    },
  };
  cleanups.push(() => s3.close());
  return s3;
}
