/**
 * The rate limit's stores: in scale-out the counts are in Redis, so two API nodes (two stores,
 * two connections) count one key together; embedded, one process counts alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRateStore, RedisRateStore } from '../../src/api/rate-limit.js';
import { connectRedis } from '../../src/jobs/bullmq/redis.js';
import { TEST_REDIS_URL, testRedisPrefix } from '../helpers/scale-out.js';

test('two nodes on one Redis share each key’s count and window; other keys are apart', async (t) => {
  const prefix = testRedisPrefix();
  const a = connectRedis(TEST_REDIS_URL, 'test-rate-a');
  const b = connectRedis(TEST_REDIS_URL, 'test-rate-b');
  t.after(async () => {
    const keys = await a.keys(`${prefix}:*`);
    if (keys.length > 0) await a.del(...keys);
    a.disconnect();
    b.disconnect();
  });
  const nodeA = new RedisRateStore(a, prefix);
  const nodeB = new RedisRateStore(b, prefix);
  assert.equal((await nodeA.hit('key_1', 3, 60_000)).count, 3);
  const second = await nodeB.hit('key_1', 2, 60_000);
  assert.equal(second.count, 5, 'node B sees node A’s three');
  assert.ok(second.resetMs > 55_000 && second.resetMs <= 60_000, `window ends in ${second.resetMs} ms`);
  assert.equal((await nodeB.hit('key_2', 1, 60_000)).count, 1);
  const short = await nodeA.hit('key_3', 1, 200);
  assert.equal(short.count, 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await nodeB.hit('key_3', 1, 200)).count, 1, 'a new window after the old one ended');
});

test('the in-memory store counts per key and opens a new window when one ends', async () => {
  const store = new MemoryRateStore();
  assert.equal((await store.hit('k', 4, 100)).count, 4);
  assert.equal((await store.hit('k', 1, 100)).count, 5);
  assert.equal((await store.hit('other', 1, 100)).count, 1);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal((await store.hit('k', 1, 100)).count, 1);
});
