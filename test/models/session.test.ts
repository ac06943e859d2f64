import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPixeliftError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { probeWebGpu, resolveDevice } from '../../src/models/session.js';

test('cpu is always cpu; auto and webgpu follow whether a WebGPU adapter exists', async () => {
  assert.equal(await resolveDevice('cpu', silentLogger), 'cpu');
  const probe = await probeWebGpu();
  // This machine decides which branch runs: CI has no GPU (auto → cpu, webgpu → error);
  // a machine with an adapter must give webgpu for both.
  if (probe.available) {
    assert.equal(await resolveDevice('auto', silentLogger), 'webgpu');
    assert.equal(await resolveDevice('webgpu', silentLogger), 'webgpu');
  } else {
    assert.ok(probe.reason && probe.reason.length > 0, 'an unavailable adapter comes with a reason');
    assert.equal(await resolveDevice('auto', silentLogger), 'cpu');
    await assert.rejects(
      resolveDevice('webgpu', silentLogger),
      (e: unknown) => isPixeliftError(e, 'device_unavailable') && /webgpu/.test(e.message),
    );
  }
});
