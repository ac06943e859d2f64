import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isPixeliftError } from '../../../src/errors.js';
import { openDatabase, schemaVersion } from '../../../src/jobs/sqlite/database.js';
import { MIGRATIONS } from '../../../src/jobs/sqlite/migrations.js';
import { tempDir } from '../../helpers/models.js';
import { at, makeJob } from '../fixtures.js';
import { freshStores, reopen } from './backend.js';

test('opening a file in a missing directory creates it, applies every migration and sets the pragmas', () => {
  const file = path.join(tempDir('pixelift-sqlite-'), 'nested', 'deeper', 'p.db');
  const db = openDatabase(file);
  try {
    assert.ok(fs.existsSync(file));
    assert.equal(schemaVersion(db), MIGRATIONS.length);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL is 1');
  } finally {
    db.close();
  }
});

test('reopening a migrated file runs no migration twice', () => {
  const file = path.join(tempDir('pixelift-sqlite-'), 'p.db');
  openDatabase(file).close();
  const db = openDatabase(file); // CREATE TABLE would throw if migration 1 ran again
  try {
    assert.equal(schemaVersion(db), MIGRATIONS.length);
  } finally {
    db.close();
  }
});

test('EXPECTED FAILURE - a database from a newer schema is refused with invalid_config', () => {
  const file = path.join(tempDir('pixelift-sqlite-'), 'p.db');
  const db = openDatabase(file);
  db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  db.close();
  assert.throws(
    () => openDatabase(file),
    (err) => isPixeliftError(err, 'invalid_config') && /schema version/.test(err.message),
  );
});

test('a :memory: database is migrated like a file', () => {
  const db = openDatabase(':memory:');
  try {
    assert.equal(schemaVersion(db), MIGRATIONS.length);
  } finally {
    db.close();
  }
});

test('jobs, balances, events, deliveries and uploads survive closing and reopening the file', async () => {
  const first = freshStores();
  const { key, secret } = await first.keys.create({ name: 'ci', credits: 10 });
  const created = await first.jobs.create(makeJob({ keyId: key.id, cost: 2.5 }), {
    charge: true,
    idempotency: { key: 'idem-1', fingerprint: 'fp' },
  });
  assert.equal(created.replayed, false);
  const event = !created.replayed && created.event; // its `queued` event, recorded by create
  const delivery = await first.outbox.enqueue({
    jobId: created.job.id,
    eventType: 'completed',
    url: 'https://hooks.example/x',
    messageId: 'msg_1',
    payload: '{}',
    scheme: 'standard',
    now: at(0),
  });
  await first.uploads.create({
    id: 'upl_1',
    keyId: key.id,
    blobKey: 'uploads/upl_1.bin',
    bytes: 10,
    contentType: 'image/png',
    width: 1,
    height: 1,
    format: 'png',
    createdAt: at(0).toISOString(),
    expiresAt: at(60_000).toISOString(),
  });
  first.close();

  const second = reopen(first.file);
  assert.deepEqual(await second.jobs.get(created.job.id), created.job);
  assert.equal((await second.keys.authenticate(secret))?.credits, 7.5);
  assert.deepEqual(await second.events.since({ afterId: 0 }), [event]);
  assert.deepEqual(await second.outbox.get(delivery.id), delivery);
  assert.equal((await second.uploads.get('upl_1'))?.blobKey, 'uploads/upl_1.bin');
  // The idempotency record persisted too: the same request replays instead of charging again.
  const again = await second.jobs.create(makeJob({ keyId: key.id, cost: 2.5 }), {
    charge: true,
    idempotency: { key: 'idem-1', fingerprint: 'fp' },
  });
  assert.equal(again.replayed, true);
  assert.equal(again.job.id, created.job.id);
  assert.equal((await second.keys.get(key.id))?.credits, 7.5);
});
