/**
 * The S3 blob store against a real S3-protocol server on loopback (s3rver, in this process),
 * and the behaviour every BlobStore shares run against both the S3 and the filesystem store.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type ErrorCode, isPixeliftError } from '../../src/errors.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { FsBlobStore } from '../../src/storage/fs-store.js';
import { parseS3Url, S3BlobStore } from '../../src/storage/s3-store.js';
import { tempDir } from '../helpers/models.js';
import { startTestS3, type TestS3 } from '../helpers/scale-out.js';

let s3: TestS3;
const clients: S3BlobStore[] = [];
before(async () => {
  s3 = await startTestS3();
});
after(() => {
  for (const c of clients) c.close();
});

function s3Store(prefix = ''): S3BlobStore {
  const store = new S3BlobStore(parseS3Url(`${s3.url}${prefix ? `/${prefix}` : ''}`));
  clients.push(store);
  return store;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isPixeliftError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

const BYTES = Buffer.from('0123456789abcdef');

for (const [name, make] of [
  ['s3', () => s3Store(`run-${Math.random().toString(36).slice(2)}`)],
  ['fs', () => new FsBlobStore(tempDir('pixelift-blobs-'))],
] as const) {
  test(`${name}: put then get and size return the same bytes; a second put replaces them`, async () => {
    const store: BlobStore = make();
    await store.put('results/job_1.png', BYTES, 'image/png');
    assert.deepEqual(await store.get('results/job_1.png'), BYTES);
    assert.equal(await store.size('results/job_1.png'), BYTES.length);
    await store.put('results/job_1.png', Buffer.from('new'));
    assert.equal((await store.get('results/job_1.png')).toString(), 'new');
  });

  test(`${name}: stream returns the whole blob, or exactly the inclusive range asked for`, async () => {
    const store: BlobStore = make();
    await store.put('a/b.bin', BYTES);
    assert.deepEqual(await readAll(await store.stream('a/b.bin')), BYTES);
    assert.equal((await readAll(await store.stream('a/b.bin', { start: 3, end: 6 }))).toString(), '3456');
    assert.equal((await readAll(await store.stream('a/b.bin', { start: 15, end: 15 }))).toString(), 'f');
  });

  test(`${name}: EXPECTED FAILURE - a missing blob rejects get and stream with blob_not_found; size says undefined`, async () => {
    const store: BlobStore = make();
    await rejectsWith(store.get('results/none.png'), 'blob_not_found');
    await rejectsWith(store.stream('results/none.png'), 'blob_not_found');
    assert.equal(await store.size('results/none.png'), undefined);
  });

  test(`${name}: delete removes a blob, and deleting an absent key is not an error`, async () => {
    const store: BlobStore = make();
    await store.put('inputs/x', BYTES);
    await store.delete('inputs/x');
    assert.equal(await store.size('inputs/x'), undefined);
    await store.delete('inputs/x');
  });

  test(`${name}: BAD CALL - keys with "..", empty segments or backslashes are refused`, async () => {
    const store: BlobStore = make();
    for (const key of ['../x', 'a//b', '/abs', 'a\\b', 'a/./b', '']) {
      await rejectsWith(store.put(key, BYTES), 'invalid_argument');
    }
  });
}

test('s3: two prefixes in one bucket never see each other’s blobs', async () => {
  const a = s3Store('tenant-a');
  const b = s3Store('tenant-b');
  await a.put('results/same.png', Buffer.from('a'));
  assert.equal(await b.size('results/same.png'), undefined);
  await b.put('results/same.png', Buffer.from('b'));
  assert.equal((await a.get('results/same.png')).toString(), 'a');
});

test('s3: probe() checks PUT, GET and DELETE under the prefix, where HeadBucket is refused', async () => {
  // Signatures checked: this s3rver refuses HeadBucket (403) while object calls verify — as the
  // least-privilege deployment of issue 16, whose node never became ready on HeadBucket.
  const strict = await startTestS3('pixelift-strict', { checkSignatures: true });
  const location = parseS3Url(`${strict.url}/node-a`);
  const store = new S3BlobStore(location);
  clients.push(store);
  const head = new S3Client({ ...location.client });
  await assert.rejects(head.send(new HeadBucketCommand({ Bucket: location.bucket })), (err: unknown) => {
    assert.equal((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 403);
    return true;
  });
  head.destroy();
  assert.equal(await store.probe(), undefined, 'ready: the calls the node makes work');
  await rejectsWith(store.get('readyz/anything'), 'blob_not_found');

  const missing = new S3BlobStore(parseS3Url(s3.url.replace(/\/[^/]+$/, '/no-such-bucket/p')));
  clients.push(missing);
  const problem = await missing.probe();
  assert.match(
    problem ?? '',
    /^PutObject s3:\/\/no-such-bucket\/p\/readyz\/[0-9a-f]{16} failed: NoSuchBucket \(HTTP 404\)/,
  );

  const forged = new S3BlobStore(parseS3Url(strict.url.replace('S3RVER:S3RVER@', 'S3RVER:wrong@')));
  clients.push(forged);
  assert.match((await forged.probe()) ?? '', /^PutObject .* failed: SignatureDoesNotMatch \(HTTP 403\)/);
});

test('parseS3Url reads an endpoint URL with credentials, bucket and prefix', () => {
  const loc = parseS3Url('http://minio%2Bkey:s3cr%2Ft@minio:9000/pixelift/prod/blobs?region=eu-west-1');
  assert.equal(loc.bucket, 'pixelift');
  assert.equal(loc.prefix, 'prod/blobs/');
  assert.deepEqual(loc.client, {
    region: 'eu-west-1',
    endpoint: 'http://minio:9000',
    forcePathStyle: true,
    credentials: { accessKeyId: 'minio+key', secretAccessKey: 's3cr/t' },
  });
  const aws = parseS3Url('s3://my-bucket');
  assert.deepEqual(aws, { bucket: 'my-bucket', prefix: '', client: { region: 'us-east-1' } });
});

test('BAD CALL - parseS3Url refuses a URL with no bucket or another scheme, naming the variable', () => {
  for (const url of ['http://minio:9000/', 'ftp://x/bucket', 'not a url']) {
    assert.throws(
      () => parseS3Url(url),
      (err: unknown) => isPixeliftError(err, 'invalid_config') && /PIXELIFT_S3_URL/.test(String(err)),
    );
  }
});
