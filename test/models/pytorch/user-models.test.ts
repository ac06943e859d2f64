/**
 * PyTorch and safetensors files dropped into the models directory: listed with what was
 * recognised, converted, cached and golden-checked like the built-ins, and run through the
 * engine's runner with PyTorch's result.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isPixeliftError } from '../../../src/errors.js';
import { testStore } from '../../helpers/models.js';
import { fixturePath, maxAbsDiff, readF32 } from '../../helpers/pytorch-fixtures.js';

function storeWith(files: Record<string, string>, extra: Record<string, string> = {}) {
  const store = testStore();
  const models = path.join(store.dir, 'models');
  fs.mkdirSync(models);
  for (const [name, fixture] of Object.entries(files))
    fs.copyFileSync(fixturePath(fixture), path.join(models, name));
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(models, name), text);
  return store;
}

test('a dropped .pth appears with its architecture, scale, parameters and FLOPs, and runs as PyTorch does', async () => {
  const store = storeWith({ 'my-compact.pth': 'srvgg-prelu-x4.pth' });
  const m = store.get('my-compact');
  assert.equal(m.origin, 'user');
  assert.deepEqual(m.scales, [4]);
  assert.equal(m.architecture?.id, 'srvgg');
  assert.match(m.architecture?.variant ?? '', /PReLU/);
  assert.equal(m.cost[4]?.params, 4_920); // PyTorch's own count for the fixture (cases.json)
  assert.ok((m.cost[4]?.flops ?? 0) > 0);
  const runner = await store.open('my-compact');
  const out = await runner.run({ data: readF32('input-13x10.f32'), width: 10, height: 13 });
  assert.equal(out.width, 40);
  assert.ok(maxAbsDiff(out.data, readF32('srvgg-prelu-x4.out.f32')) <= 1e-4);
  await store.close();
});

test('the conversion is cached and golden-checked: a second store reuses it, a tampered cache is redone', async () => {
  const first = storeWith({ 'esr.pth': 'srvgg-prelu-x4.legacy.pth' });
  assert.equal((await first.prepare('esr')).converted, true);
  await first.close();
  const again = testStore({
    modelsDir: path.join(first.dir, 'models'),
    modelCacheDir: path.join(first.dir, 'cache'),
  });
  const cached = await again.prepare('esr');
  assert.equal(cached.converted, false);
  await again.close();
  // Flip bytes in the cached graph: its hash no longer matches, so it is converted afresh.
  const onnx = fs.readFileSync(cached.onnxPath);
  const at = onnx.length - 10;
  onnx[at] = (onnx[at] ?? 0) ^ 0xff;
  fs.writeFileSync(cached.onnxPath, onnx);
  const third = testStore({
    modelsDir: path.join(first.dir, 'models'),
    modelCacheDir: path.join(first.dir, 'cache'),
  });
  assert.equal((await third.prepare('esr')).converted, true);
  await third.close();
});

test('a network that does not upscale (random ESRGAN weights) fails the golden sanity check', async () => {
  const store = storeWith({ 'noise.safetensors': 'esrgan-basicsr-x4.safetensors' });
  await assert.rejects(store.prepare('noise'), (err) => isPixeliftError(err, 'model_verification_failed'));
  await store.close();
});

test('name.json beside the file sets the display name, kind and licence; a wrong scale in it is reported', () => {
  const store = storeWith(
    { 'good.pth': 'srvgg-prelu-x4.pth', 'bad-scale.pth': 'srvgg-relu-x2.safetensors' },
    {
      'good.json': JSON.stringify({ name: 'My compact', kind: 'fast', license: 'CC-BY-4.0' }),
      'bad-scale.json': JSON.stringify({ scale: 4 }),
    },
  );
  const m = store.get('good');
  assert.equal(m.name, 'My compact');
  assert.equal(m.kind, 'fast');
  assert.equal(m.license, 'CC-BY-4.0');
  assert.ok(!store.list().some((e) => e.id === 'bad-scale'));
  const problem = store.userModelProblems().find((p) => p.file.endsWith('bad-scale.pth'));
  assert.equal(problem?.error.code, 'model_manifest_invalid');
});

test('unsafe, unknown and oversize files are left out with their error; the others still load', () => {
  const store = testStore({ maxModelBytes: 60_000 });
  const models = path.join(store.dir, 'models');
  fs.mkdirSync(models);
  for (const [name, fixture] of Object.entries({
    'evil.pth': 'evil-os-system.pth',
    'mystery.safetensors': 'unknown-arch.safetensors',
    'huge.pth': 'span-x4.pth',
    'ok.pth': 'srvgg-prelu-x4.pth',
  })) {
    fs.copyFileSync(fixturePath(fixture), path.join(models, name));
  }
  assert.deepEqual(
    store
      .list()
      .filter((m) => m.origin === 'user')
      .map((m) => m.id),
    ['ok'],
  );
  const codes = Object.fromEntries(
    store.userModelProblems().map((p) => [path.basename(p.file), p.error.code]),
  );
  assert.deepEqual(codes, {
    'evil.pth': 'model_unsafe',
    'huge.pth': 'model_too_large',
    'mystery.safetensors': 'model_arch_unknown',
  });
});

test('face restorers (fixed-size graphs, CodeFormer with its w input) pass the golden check and reuse their cache', async () => {
  const first = storeWith({
    'my-gfpgan.pth': 'gfpgan-v1.4-64.pth',
    'my-codeformer.pth': 'codeformer-32-fuse16.pth',
  });
  for (const id of ['my-gfpgan', 'my-codeformer']) {
    assert.equal(first.get(id).kind, 'face');
    assert.deepEqual(first.get(id).scales, [1]);
    assert.equal((await first.prepare(id, 1)).converted, true, id);
  }
  await first.close();
  const again = testStore({
    modelsDir: path.join(first.dir, 'models'),
    modelCacheDir: path.join(first.dir, 'cache'),
  });
  // The cached graphs are re-run on their own input size (64², 32²) and match the stored golden.
  for (const id of ['my-gfpgan', 'my-codeformer'])
    assert.equal((await again.prepare(id, 1)).converted, false, id);
  await again.close();
});
