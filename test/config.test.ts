import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULTS, HUGE_PAGES_TUNABLE, loadConfig, workerEnv } from '../src/config.js';
import { isPixeliftError } from '../src/errors.js';

test('defaults apply when the environment is empty, and the result is frozen', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.device, DEFAULTS.device);
  assert.equal(c.dataDir, path.resolve('./data'));
  assert.equal(c.modelsDir, path.resolve('./data/models'));
  assert.deepEqual(c.apiKeys, []);
  assert.equal(c.allowPrivateUrls, false);
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.limits));
  assert.equal(c.limits.maxOutputMegapixels, 128);
  assert.equal(c.precision, 'auto');
  assert.equal(
    c.workers * c.threads <= Math.max(2, os.availableParallelism()),
    true,
    'workers x threads fit the cores',
  );
});

test('PIXELIFT_* variables are parsed and typed', () => {
  const c = loadConfig({
    PIXELIFT_DATA_DIR: '/tmp/px',
    PIXELIFT_PORT: '9000',
    PIXELIFT_DEVICE: 'cpu',
    PIXELIFT_THREADS: '3',
    PIXELIFT_API_KEYS: ' a, b ,,c',
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    PIXELIFT_MAX_INPUT_MEGAPIXELS: '0.5',
    PIXELIFT_WORKERS: '2',
    PIXELIFT_PRECISION: 'int8',
  });
  assert.equal(c.precision, 'int8');
  assert.equal(c.limits.maxInputMegapixels, 0.5);
  assert.equal(c.workers, 2);
  assert.equal(c.dataDir, '/tmp/px');
  assert.equal(c.modelCacheDir, '/tmp/px/cache/models');
  assert.equal(c.port, 9000);
  assert.equal(c.device, 'cpu');
  assert.equal(c.threads, 3);
  assert.deepEqual(c.apiKeys, [
    { secret: 'a', credits: null },
    { secret: 'b', credits: null },
    { secret: 'c', credits: null },
  ]);
  assert.equal(c.allowPrivateUrls, true);
});

for (const [name, value] of [
  ['PIXELIFT_PORT', '80.5'],
  ['PIXELIFT_PORT', '70000'],
  ['PIXELIFT_DEVICE', 'cuda'],
  ['PIXELIFT_THREADS', '0'],
  ['PIXELIFT_ALLOW_PRIVATE_URLS', 'maybe'],
  ['PIXELIFT_PRECISION', 'fp16'],
] as const) {
  test(`BAD CALL - ${name}=${value} is rejected with invalid_config naming the variable`, () => {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (err: unknown) => isPixeliftError(err, 'invalid_config') && err.message.includes(name),
    );
  });
}

test('PIXELIFT_API_KEYS takes key:credits entries and refuses a malformed balance', () => {
  const c = loadConfig({ PIXELIFT_API_KEYS: 'pk_a:100,pk_b, pk_c:0.5' });
  assert.deepEqual(c.apiKeys, [
    { secret: 'pk_a', credits: 100 },
    { secret: 'pk_b', credits: null },
    { secret: 'pk_c', credits: 0.5 },
  ]);
  assert.throws(() => loadConfig({ PIXELIFT_API_KEYS: 'pk_a:lots' }), /key:credits/);
  assert.throws(() => loadConfig({ PIXELIFT_API_KEYS: 'pk_a:-1' }), /key:credits/);
});

test('service settings: defaults, overrides and a webhook secret in Standard Webhooks form', () => {
  const d = loadConfig({});
  assert.equal(d.service.maxWaitSeconds, 60);
  assert.equal(d.service.webhookSecret, undefined);
  const c = loadConfig({
    PIXELIFT_MAX_WAIT: '5',
    PIXELIFT_MAX_QUEUE_DEPTH: '3',
    PIXELIFT_PUBLIC_URL: 'https://px.example.com/',
    PIXELIFT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  });
  assert.equal(c.service.maxWaitSeconds, 5);
  assert.equal(c.service.maxQueueDepth, 3);
  assert.equal(c.service.publicUrl, 'https://px.example.com');
  assert.equal(c.service.webhookSecret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  assert.throws(() => loadConfig({ PIXELIFT_WEBHOOK_SECRET: 'short' }), /PIXELIFT_WEBHOOK_SECRET/);
  assert.throws(() => loadConfig({ PIXELIFT_PUBLIC_URL: 'ftp://x' }), /PIXELIFT_PUBLIC_URL/);
});

test('scale-out is on only with all three backend URLs, with defaults for the rest', () => {
  const load = loadConfig;
  const urls = {
    PIXELIFT_DATABASE_URL: 'postgres://u@db:5432/p',
    PIXELIFT_REDIS_URL: 'redis://redis:6379',
    PIXELIFT_S3_URL: 'http://k:s@minio:9000/b',
  };
  assert.equal(load({}).scaleOut, undefined);
  assert.deepEqual(load(urls).scaleOut, {
    databaseUrl: urls.PIXELIFT_DATABASE_URL,
    databaseSchema: 'public',
    redisUrl: urls.PIXELIFT_REDIS_URL,
    redisPrefix: 'pixelift',
    s3Url: urls.PIXELIFT_S3_URL,
    lockSeconds: 30,
    reconcileSeconds: 30,
  });
  // The per-key running cap: every local worker when embedded; none in scale-out, where the
  // workers are other processes; an explicit value wins in both.
  assert.equal(load({ PIXELIFT_WORKERS: '3' }).service.maxRunningPerKey, 3);
  assert.equal(load({ ...urls, PIXELIFT_WORKERS: '3' }).service.maxRunningPerKey, 10_000);
  assert.equal(load({ ...urls, PIXELIFT_MAX_JOBS_PER_KEY: '2' }).service.maxRunningPerKey, 2);
  assert.throws(
    () => load({ PIXELIFT_DATABASE_URL: urls.PIXELIFT_DATABASE_URL }),
    /PIXELIFT_REDIS_URL and PIXELIFT_S3_URL unset/,
  );
  assert.throws(() => load({ ...urls, PIXELIFT_DATABASE_URL: 'mysql://x' }), /postgres:\/\//);
  assert.throws(() => load({ ...urls, PIXELIFT_DATABASE_SCHEMA: 'Drop Table' }), /PIXELIFT_DATABASE_SCHEMA/);
});

test('WebSocket settings (PIXELIFT_WS_*): defaults, overrides, and out-of-range values refused by name', () => {
  const d = loadConfig({}).service.socket;
  assert.deepEqual(
    { ...d },
    {
      maxFrameBytes: undefined,
      maxTasksPerConnection: 16,
      maxTasksPerKey: 64,
      authTimeoutSeconds: 10,
      idleTimeoutSeconds: 300,
      maxBufferedBytes: 16 * 1024 * 1024,
    },
  );
  const c = loadConfig({
    PIXELIFT_WS_MAX_FRAME_BYTES: '65536',
    PIXELIFT_WS_MAX_TASKS: '4',
    PIXELIFT_WS_MAX_TASKS_PER_KEY: '8',
    PIXELIFT_WS_AUTH_TIMEOUT: '2.5',
    PIXELIFT_WS_IDLE_TIMEOUT: '30',
    PIXELIFT_WS_MAX_BUFFERED_BYTES: '1048576',
  }).service.socket;
  assert.deepEqual(
    [c.maxFrameBytes, c.maxTasksPerConnection, c.maxTasksPerKey, c.authTimeoutSeconds, c.idleTimeoutSeconds],
    [65536, 4, 8, 2.5, 30],
  );
  assert.equal(c.maxBufferedBytes, 1048576);
  assert.ok(Object.isFrozen(c));
  assert.throws(() => loadConfig({ PIXELIFT_WS_MAX_TASKS: '0' }), /PIXELIFT_WS_MAX_TASKS/);
  assert.throws(() => loadConfig({ PIXELIFT_WS_MAX_FRAME_BYTES: '10' }), /PIXELIFT_WS_MAX_FRAME_BYTES/);
  assert.throws(() => loadConfig({ PIXELIFT_WS_IDLE_TIMEOUT: 'soon' }), /PIXELIFT_WS_IDLE_TIMEOUT/);
});

test('PIXELIFT_MEMORY_BUDGET takes a size (2G, 1536M, bytes); the default is half the memory per worker, 512 MiB..3 GiB', () => {
  assert.equal(loadConfig({ PIXELIFT_MEMORY_BUDGET: '2G' }).memoryBudget, 2 * 2 ** 30);
  assert.equal(loadConfig({ PIXELIFT_MEMORY_BUDGET: '1536M' }).memoryBudget, 1536 * 2 ** 20);
  assert.equal(loadConfig({ PIXELIFT_MEMORY_BUDGET: '1.5GiB' }).memoryBudget, 1.5 * 2 ** 30);
  assert.equal(loadConfig({ PIXELIFT_MEMORY_BUDGET: '800000000' }).memoryBudget, 800_000_000);
  const half = (os.totalmem() * 0.5) / 4;
  assert.equal(
    loadConfig({ PIXELIFT_WORKERS: '4' }).memoryBudget,
    Math.round(Math.min(3 * 2 ** 30, Math.max(512 * 2 ** 20, half))),
  );
  for (const bad of ['lots', '12 parsecs', '100M']) {
    assert.throws(
      () => loadConfig({ PIXELIFT_MEMORY_BUDGET: bad }),
      (e: unknown) =>
        isPixeliftError(e) && e.code === 'invalid_config' && /PIXELIFT_MEMORY_BUDGET/.test(e.message),
      bad,
    );
  }
});

test('worker children get huge pages for malloc, after any tunables of the parent; a hugetlb the user set wins', () => {
  assert.equal(workerEnv({ PATH: '/bin' }).PATH, '/bin', 'the rest of the environment is kept');
  const cases: [string | undefined, string][] = [
    [undefined, HUGE_PAGES_TUNABLE],
    ['glibc.malloc.arena_max=2', 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'],
    ['glibc.malloc.hugetlb=0', 'glibc.malloc.hugetlb=0'],
    ['glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2', 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2'],
    // A name that only ends like it is not the tunable.
    ['x.hugetlb=0', 'x.hugetlb=0:glibc.malloc.hugetlb=1'],
  ];
  for (const [own, expected] of cases)
    assert.equal(workerEnv({ GLIBC_TUNABLES: own }).GLIBC_TUNABLES, expected, own);
});
