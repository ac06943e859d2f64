import assert from 'node:assert/strict';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { isPixeliftError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { GraphBuilder } from '../../src/models/onnx/builder.js';
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

test("EXPECTED FAILURE - onnxruntime's provider list ['webgpu', 'cpu'] does not fall back to cpu without an adapter, which is why auto probes", async () => {
  const g = new GraphBuilder('list');
  g.output(g.node('Relu', [g.input('x', [1, 4])]), 'y', [1, 4]);
  const open = ort.InferenceSession.create(g.toBytes(), { executionProviders: ['webgpu', 'cpu'] });
  if ((await probeWebGpu()).available) {
    const session = await open;
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.of(-1, 2, -3, 4), [1, 4]) });
    assert.deepEqual(Array.from(y!.data as Float32Array), [0, 2, 0, 4]);
    await session.release();
  } else {
    // Dawn prints "Couldn't load Vulkan" to this process's stderr here; the probe keeps it in a child.
    await assert.rejects(open, /Failed to get a WebGPU adapter/);
  }
});
