/** What only a shared database shows: many nodes at once on the same rows. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { schemaVersion } from '../../../src/jobs/postgres/index.js';
import { MIGRATIONS } from '../../../src/jobs/postgres/migrations.js';
import { testSchema } from '../../helpers/scale-out.js';
import { makeJob, T0 } from '../fixtures.js';
import { openStores } from './backend.js';

test('nodes opening a new schema together migrate it once', async () => {
  const schema = testSchema();
  const nodes = await Promise.all([openStores(schema), openStores(schema), openStores(schema)]);
  for (const n of nodes) assert.equal(await schemaVersion(n.pool), MIGRATIONS.length);
  const { rows } = await nodes[0]!.pool.query('SELECT count(*) AS n FROM pixelift_schema');
  assert.equal(rows[0].n, 1);
});

test('workers claiming at once from two pools each get a different job, none twice, within the key cap', async () => {
  const schema = testSchema();
  const [a, b] = await Promise.all([openStores(schema), openStores(schema)]);
  for (let i = 0; i < 8; i++)
    await a.jobs.create(makeJob({ id: `job_${i}`, keyId: i % 2 ? 'key_odd' : 'key_even' }));
  const claims = await Promise.all(
    Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).jobs.claim({ maxRunningPerKey: 3, now: T0 })),
  );
  const ids = claims.filter((c) => c !== undefined).map((c) => c.job.id);
  assert.equal(ids.length, 6, '3 per key');
  assert.equal(new Set(ids).size, 6, 'no job claimed twice');
  assert.deepEqual(await a.jobs.activeCount('key_odd'), { queued: 1, running: 3 });
});

test('the same queued job handed to two workers at once is claimed by one; the other takes it over', async () => {
  const schema = testSchema();
  const [a, b] = await Promise.all([openStores(schema), openStores(schema)]);
  await a.jobs.create(makeJob({ id: 'job_1' }));
  const options = { maxRunningPerKey: 5, maxAttempts: 3, now: T0 };
  const [x, y] = await Promise.all([a.jobs.claimById('job_1', options), b.jobs.claimById('job_1', options)]);
  const attempts = [x, y].map((o) => (o.kind === 'claimed' ? o.job.attempts : 0)).sort();
  assert.deepEqual(attempts, [1, 2], 'row locks serialize the two claims: attempts 1 then 2');
  assert.equal((await a.jobs.get('job_1'))?.attempts, 2);
});

test('two nodes sharing a setting read the value the first one stored', async () => {
  const schema = testSchema();
  const [a, b] = await Promise.all([openStores(schema), openStores(schema)]);
  const [x, y] = await Promise.all([
    a.sharedSetting('webhook_secret', () => 'from-a'),
    b.sharedSetting('webhook_secret', () => 'from-b'),
  ]);
  assert.equal(x, y);
  assert.equal(await a.sharedSetting('webhook_secret', () => 'later'), x);
});

test('concurrent idempotent creates with one key make one job and replay it', async () => {
  const schema = testSchema();
  const [a, b] = await Promise.all([openStores(schema), openStores(schema)]);
  const idempotency = { key: 'idem-1', fingerprint: 'f1' };
  const [x, y] = await Promise.all([
    a.jobs.create(makeJob({ id: 'job_a' }), { idempotency }),
    b.jobs.create(makeJob({ id: 'job_b' }), { idempotency }),
  ]);
  assert.equal(x.job.id, y.job.id);
  assert.deepEqual([x.replayed, y.replayed].sort(), [false, true]);
  assert.equal((await a.jobs.counts()).queued, 1);
});
