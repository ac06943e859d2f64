import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULTS, loadConfig } from '../src/config.js';
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
  });
  assert.equal(c.limits.maxInputMegapixels, 0.5);
  assert.equal(c.workers, 2);
  assert.equal(c.dataDir, '/tmp/px');
  assert.equal(c.modelCacheDir, '/tmp/px/cache/models');
  assert.equal(c.port, 9000);
  assert.equal(c.device, 'cpu');
  assert.equal(c.threads, 3);
  assert.deepEqual(c.apiKeys, ['a', 'b', 'c']);
  assert.equal(c.allowPrivateUrls, true);
});

for (const [name, value] of [
  ['PIXELIFT_PORT', '80.5'],
  ['PIXELIFT_PORT', '70000'],
  ['PIXELIFT_DEVICE', 'cuda'],
  ['PIXELIFT_THREADS', '0'],
  ['PIXELIFT_ALLOW_PRIVATE_URLS', 'maybe'],
] as const) {
  test(`BAD CALL - ${name}=${value} is rejected with invalid_config naming the variable`, () => {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (err: unknown) => isPixeliftError(err, 'invalid_config') && err.message.includes(name),
    );
  });
}
