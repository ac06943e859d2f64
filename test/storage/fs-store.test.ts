import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { type ErrorCode, isPixeliftError } from '../../src/errors.js';
import { FsBlobStore } from '../../src/storage/fs-store.js';

/** A store rooted in a fresh directory inside another fresh one, so that escapes can be seen. */
function tempStore(t: TestContext): { store: FsBlobStore; root: string; outside: string } {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-fs-store-'));
  t.after(() => fs.rmSync(outside, { recursive: true, force: true }));
  const root = path.join(outside, 'blobs');
  return { store: new FsBlobStore(root), root, outside };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isPixeliftError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

const BYTES = Buffer.from('0123456789abcdef');

test('put then get returns the same bytes, creating the key’s directories', async (t) => {
  const { store, root } = tempStore(t);
  await store.put('results/job_1/out.png', BYTES, 'image/png');
  assert.deepEqual(await store.get('results/job_1/out.png'), BYTES);
  assert.deepEqual(fs.readFileSync(path.join(root, 'results', 'job_1', 'out.png')), BYTES);
  assert.equal(await store.size('results/job_1/out.png'), BYTES.length);
});

test('put over an existing key replaces it and leaves no temporary file behind', async (t) => {
  const { store, root } = tempStore(t);
  await store.put('inputs/a.bin', BYTES);
  await store.put('inputs/a.bin', Buffer.from('new'));
  assert.equal((await store.get('inputs/a.bin')).toString(), 'new');
  assert.deepEqual(fs.readdirSync(path.join(root, 'inputs')), ['a.bin']);
});

test('replacing a blob is atomic: a reader that opened the old one still reads all of it', async (t) => {
  const { store } = tempStore(t);
  const old = Buffer.alloc(256 * 1024, 1);
  await store.put('results/r.png', old);
  const reading = await store.stream('results/r.png');
  await store.put('results/r.png', Buffer.alloc(10, 2));
  assert.deepEqual(await readAll(reading), old);
  assert.deepEqual(await store.get('results/r.png'), Buffer.alloc(10, 2));
});

test('a write that cannot be renamed into place fails and removes its temporary file', async (t) => {
  const { store, root } = tempStore(t);
  // A non-empty directory where the file should go: rename(2) refuses to replace it.
  fs.mkdirSync(path.join(root, 'x', 'taken'), { recursive: true });
  fs.writeFileSync(path.join(root, 'x', 'taken', 'inside'), 'keep');
  await assert.rejects(store.put('x/taken', BYTES));
  assert.deepEqual(fs.readdirSync(path.join(root, 'x')), ['taken']);
});

test('stream returns the whole blob, or exactly the inclusive range asked for', async (t) => {
  const { store } = tempStore(t);
  await store.put('b.bin', BYTES);
  assert.deepEqual(await readAll(await store.stream('b.bin')), BYTES);
  assert.equal((await readAll(await store.stream('b.bin', { start: 2, end: 5 }))).toString(), '2345');
  assert.equal((await readAll(await store.stream('b.bin', { start: 15, end: 15 }))).toString(), 'f');
  assert.equal((await readAll(await store.stream('b.bin', { start: 10, end: 1000 }))).toString(), 'abcdef');
});

test('EXPECTED FAILURE - a missing blob rejects get and stream with blob_not_found; size says undefined', async (t) => {
  const { store } = tempStore(t);
  await rejectsWith(store.get('results/none.png'), 'blob_not_found');
  await rejectsWith(store.stream('results/none.png'), 'blob_not_found');
  await rejectsWith(store.stream('results/none.png', { start: 0, end: 1 }), 'blob_not_found');
  assert.equal(await store.size('results/none.png'), undefined);
  await store.put('file.bin', BYTES);
  // Below a file, and a directory: neither is a blob.
  await rejectsWith(store.get('file.bin/child'), 'blob_not_found');
  await store.put('dir/inner.bin', BYTES);
  await rejectsWith(store.get('dir'), 'blob_not_found');
  await rejectsWith(store.stream('dir'), 'blob_not_found');
  assert.equal(await store.size('dir'), undefined);
  await assert.rejects(
    store.get('results/none.png'),
    (err: unknown) => isPixeliftError(err) && err.status === 404 && err.details.key === 'results/none.png',
  );
});

test('delete removes a blob, and deleting an absent key is not an error', async (t) => {
  const { store } = tempStore(t);
  await store.put('d/e.bin', BYTES);
  await store.delete('d/e.bin');
  assert.equal(await store.size('d/e.bin'), undefined);
  await store.delete('d/e.bin');
  await store.delete('never/was.bin');
});

for (const key of [
  '',
  '/etc/passwd',
  '../escape.bin',
  'a/../../escape.bin',
  'a/..',
  'a\\..\\escape.bin',
  'a\\b',
  'a//b',
  'a/',
  './a',
  'a/./b',
  'a\0b',
]) {
  test(`BAD CALL - the key ${JSON.stringify(key)} is refused with invalid_argument by every method`, async (t) => {
    const { store, outside } = tempStore(t);
    await rejectsWith(store.put(key, BYTES), 'invalid_argument');
    await rejectsWith(store.get(key), 'invalid_argument');
    await rejectsWith(store.size(key), 'invalid_argument');
    await rejectsWith(store.stream(key), 'invalid_argument');
    await rejectsWith(store.delete(key), 'invalid_argument');
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing was written anywhere');
  });
}

test('BAD CALL - a range must be non-negative integers with start ≤ end', async (t) => {
  const { store } = tempStore(t);
  await store.put('r.bin', BYTES);
  for (const range of [
    { start: -1, end: 2 },
    { start: 3, end: 2 },
    { start: 0.5, end: 2 },
    { start: 0, end: Number.NaN },
  ]) {
    await rejectsWith(store.stream('r.bin', range), 'invalid_argument');
  }
});
