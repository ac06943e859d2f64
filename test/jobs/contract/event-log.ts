import assert from 'node:assert/strict';
import { test } from 'node:test';
import { T0 } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

export function eventLogContract(backend: StoreBackend): void {
  test('events come back oldest first after an id, filtered by job or by key (null: open mode)', async () => {
    const s = await backend.fresh();
    const e1 = await s.events.append({
      jobId: 'job_a',
      keyId: 'key_a',
      type: 'queued',
      data: { status: 'queued' },
    });
    const e2 = await s.events.append({ jobId: 'job_o', keyId: null, type: 'queued', data: {} });
    const e3 = await s.events.append({
      jobId: 'job_a',
      keyId: 'key_a',
      type: 'progress',
      data: { progress: 0.5 },
    });
    const e4 = await s.events.append({ jobId: 'job_b', keyId: 'key_b', type: 'started', data: {} });
    assert.ok(e1.id < e2.id && e2.id < e3.id && e3.id < e4.id);

    const ids = async (q: Parameters<typeof s.events.since>[0]) => (await s.events.since(q)).map((e) => e.id);
    assert.deepEqual(await ids({ afterId: 0 }), [e1.id, e2.id, e3.id, e4.id]);
    assert.deepEqual(await ids({ afterId: e1.id }), [e2.id, e3.id, e4.id]);
    assert.deepEqual(await ids({ afterId: 0, jobId: 'job_a' }), [e1.id, e3.id]);
    assert.deepEqual(await ids({ afterId: 0, keyId: 'key_b' }), [e4.id]);
    assert.deepEqual(await ids({ afterId: 0, keyId: null }), [e2.id]);
    assert.deepEqual(await ids({ afterId: 0, limit: 2 }), [e1.id, e2.id]);
    assert.deepEqual((await s.events.since({ afterId: e2.id, jobId: 'job_a' }))[0], e3);
    assert.deepEqual(e3.data, { progress: 0.5 });
  });

  test('append keeps a given createdAt and stamps one when absent', async () => {
    const s = await backend.fresh();
    const given = await s.events.append({
      jobId: 'j',
      keyId: null,
      type: 'queued',
      data: {},
      createdAt: T0.toISOString(),
    });
    assert.equal(given.createdAt, T0.toISOString());
    const before = Date.now();
    const stamped = await s.events.append({ jobId: 'j', keyId: null, type: 'started', data: {} });
    assert.ok(Date.parse(stamped.createdAt) >= before - 1);
  });

  test('event ids are never reused after the newest events are deleted with their job', async () => {
    const s = await backend.fresh();
    await s.events.append({ jobId: 'job_keep', keyId: null, type: 'queued', data: {} });
    const last = await s.events.append({ jobId: 'job_gone', keyId: null, type: 'queued', data: {} });
    await s.deleteEvents('job_gone');
    const next = await s.events.append({ jobId: 'job_keep', keyId: null, type: 'started', data: {} });
    assert.ok(next.id > last.id, 'an SSE client resuming from the deleted id still gets the new event');
  });
}
