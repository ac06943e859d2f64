/**
 * Uploads (jobs/uploads.ts) over a real SQLite store and a real filesystem blob store: the
 * header is checked before anything is kept, and the blob is written before the row that names it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { isPixeliftError } from '../../src/errors.js';
import { openSqliteStores } from '../../src/jobs/sqlite/index.js';
import type { Upload, UploadStore } from '../../src/jobs/store.js';
import { Uploads } from '../../src/jobs/uploads.js';
import { FsBlobStore } from '../../src/storage/fs-store.js';
import { tempDir } from '../helpers/models.js';
import { testPng } from '../helpers/service.js';

const limits = loadConfig({}).limits;

function setup(store?: (real: UploadStore) => UploadStore) {
  const stores = openSqliteStores(':memory:');
  const blobs = new FsBlobStore(tempDir());
  const uploads = new Uploads({
    store: store ? store(stores.uploads) : stores.uploads,
    blobs,
    limits,
    allowSvg: false,
    ttlSeconds: 3600,
  });
  return { stores, blobs, uploads };
}

test('an upload is kept with its probed size and type, and read back by id', async () => {
  const { stores, blobs, uploads } = setup();
  const png = await testPng(40, 30);
  const upload = await uploads.store({ keyId: null }, png);
  assert.match(upload.id, /^upl_/);
  assert.deepEqual(
    { width: upload.width, height: upload.height, format: upload.format, type: upload.contentType },
    { width: 40, height: 30, format: 'png', type: 'image/png' },
  );
  assert.equal(Date.parse(upload.expiresAt) - Date.parse(upload.createdAt), 3600_000);
  assert.deepEqual(await uploads.get(upload.id), upload);
  assert.deepEqual(await blobs.get(upload.blobKey), png);
  stores.close();
});

test('the blob is in the blob store before the row that names it is written', async () => {
  let blobAtInsert: number | undefined;
  const { stores, blobs, uploads } = setup((real) => ({
    ...real,
    get: (id) => real.get(id),
    expire: (now) => real.expire(now),
    create: async (u: Upload) => {
      blobAtInsert = await blobs.size(u.blobKey);
      return real.create(u);
    },
  }));
  const png = await testPng();
  await uploads.store({ keyId: null }, png);
  assert.equal(blobAtInsert, png.length);
  stores.close();
});

test('EXPECTED FAILURE - a row that cannot be written leaves no blob behind', async () => {
  const { stores, blobs, uploads } = setup((real) => ({
    ...real,
    get: (id) => real.get(id),
    expire: (now) => real.expire(now),
    create: async () => {
      throw new Error('database is gone');
    },
  }));
  await assert.rejects(uploads.store({ keyId: null }, await testPng(), 'upl_gone'), /database is gone/);
  assert.equal(await blobs.size('uploads/upl_gone'), undefined);
  stores.close();
});

test('BAD CALL - bytes that are not an image are refused before anything is stored', async () => {
  const { stores, blobs, uploads } = setup();
  await assert.rejects(uploads.store({ keyId: null }, Buffer.from('not an image'), 'upl_text'), (err) =>
    isPixeliftError(err, 'image_unreadable'),
  );
  assert.equal(await blobs.size('uploads/upl_text'), undefined);
  assert.equal(await uploads.get('upl_text'), undefined);
  stores.close();
});
