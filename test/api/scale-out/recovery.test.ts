/**
 * Recovery in scale-out, with the API and worker nodes in this process: the queue in Redis is
 * wiped (its keys deleted, as a Redis restart without persistence leaves it) and no
 * acknowledged job is lost, because the reconciler re-enqueues what PostgreSQL holds as queued;
 * and a run whose job was taken over by another attempt cannot commit its result.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { JobQueue } from '../../../src/jobs/bullmq/queue.js';
import { connectRedis } from '../../../src/jobs/bullmq/redis.js';
import { startWorkerNode } from '../../../src/server/worker-node.js';
import { deleteKeys } from '../../helpers/scale-out.js';
import { dataUri, startTestService, testPng } from '../../helpers/service.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;
const json = async (res: Response): Promise<Json> => (await res.json()) as Json;

/** Jobs waiting in BullMQ: plain waiting ones and those under a fair-queue priority. */
async function waiting(queue: JobQueue): Promise<number> {
  const counts = await queue.queue.getJobCounts('waiting', 'prioritized');
  return (counts.waiting ?? 0) + (counts.prioritized ?? 0);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('jobs accepted before Redis lost the queue are re-enqueued from PostgreSQL and complete', async () => {
  const svc = await startTestService({ PIXELIFT_RECONCILE_INTERVAL: '3600' }, 'scale-out');
  const scaleOut = svc.config.scaleOut!;
  const redis = connectRedis(scaleOut.redisUrl, 'test');
  const queue = new JobQueue(redis, scaleOut.redisPrefix, pino({ level: 'silent' }));
  let second: Awaited<ReturnType<typeof startWorkerNode>> | undefined;
  try {
    // No worker for now: accepted jobs wait in the queue.
    await svc.worker!.close(0);
    const image = dataUri(await testPng(32, 32));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await svc.call('/v1/upscale', {
        method: 'POST',
        json: { image, model: 'lanczos3', scale: 2 },
      });
      assert.equal(res.status, 202);
      ids.push((await json(res)).id);
    }
    assert.equal(await waiting(queue), 3);

    // Redis loses everything under the prefix.
    assert.ok((await deleteKeys(redis, scaleOut.redisPrefix)) > 0);
    assert.equal(await waiting(queue), 0, 'the queue is gone');
    assert.equal((await queue.queue.getJobState(ids[0]!)) as string, 'unknown');

    // A worker starting now reconciles first: the three jobs are back, and they run.
    second = await startWorkerNode(svc.config, pino({ level: 'silent' }));
    for (const id of ids) {
      await until(
        `${id} to succeed`,
        async () => (await json(await svc.call(`/v1/jobs/${id}`))).status === 'succeeded',
      );
    }
    // A job submitted after the wipe goes straight through the rebuilt queue.
    const late = await json(
      await svc.call('/v1/upscale', { method: 'POST', json: { image, model: 'lanczos3', scale: 2 } }),
    );
    await until(
      'the late job',
      async () => (await json(await svc.call(`/v1/jobs/${late.id}`))).status === 'succeeded',
    );
  } finally {
    await second?.close(0);
    await queue.close();
    redis.disconnect();
    await svc.close(0);
  }
});

test('the reconciler leaves jobs BullMQ still holds alone and restores only the missing ones', async () => {
  const svc = await startTestService({ PIXELIFT_RECONCILE_INTERVAL: '3600' }, 'scale-out');
  const scaleOut = svc.config.scaleOut!;
  const redis = connectRedis(scaleOut.redisUrl, 'test');
  const queue = new JobQueue(redis, scaleOut.redisPrefix, pino({ level: 'silent' }));
  try {
    await svc.worker!.close(0);
    const image = dataUri(await testPng(32, 32));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (await json(await svc.call('/v1/upscale', { method: 'POST', json: { image, model: 'lanczos3' } })))
          .id,
      );
    }
    await queue.queue.remove(ids[1]!);
    const stores = await svc.openStores();
    try {
      const restored = await queue.reconcile(stores.jobs as never);
      assert.deepEqual(restored, [ids[1]]);
      assert.deepEqual(
        await queue.reconcile(stores.jobs as never),
        [],
        'a second pass finds nothing missing',
      );
    } finally {
      await stores.close();
    }
    assert.equal(await waiting(queue), 3);
  } finally {
    await queue.close();
    redis.disconnect();
    await svc.close(0);
  }
});
