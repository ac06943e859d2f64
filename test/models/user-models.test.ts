import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GraphBuilder } from '../../src/models/onnx/builder.js';
import { scaleFromName } from '../../src/models/user-models.js';
import { testStore } from '../helpers/models.js';

/**
 * A 2x "network" that works in 0..255 BGR: nearest 2x upsampling, then halves its channel 0
 * (which is blue in BGR). Run through Pixelift in RGB 0..1, blue must come back halved and
 * red and green untouched — which is only true if range and channel order are both converted.
 */
function bgr255Model(): Uint8Array {
  const g = new GraphBuilder('bgr255');
  const x = g.input('in', [1, 3, 'h', 'w']);
  const up = g.node('Resize', [x, '', g.tensor('scales', Float32Array.of(1, 1, 2, 2), [4])], {
    mode: 'nearest',
    coordinate_transformation_mode: 'asymmetric',
    nearest_mode: 'floor',
  });
  const k = g.tensor('k', Float32Array.of(0.5, 1, 1), [1, 3, 1, 1]);
  g.output(g.node('Mul', [up, k]), 'out', [1, 3, 'H', 'W']);
  return g.toBytes();
}

test('an .onnx with a manifest joins the catalog, and its range and channel order are honoured', async () => {
  const store = testStore();
  fs.mkdirSync(path.join(store.dir, 'models'));
  fs.writeFileSync(path.join(store.dir, 'models', 'my-bgr.onnx'), bgr255Model());
  fs.writeFileSync(
    path.join(store.dir, 'models', 'my-bgr.json'),
    JSON.stringify({
      name: 'My BGR net',
      scale: 2,
      inputRange: [0, 255],
      channelOrder: 'bgr',
      license: 'CC0',
    }),
  );
  const m = store.get('my-bgr');
  assert.equal(m.origin, 'user');
  assert.deepEqual(m.scales, [2]);
  assert.equal(m.license, 'CC0');
  const runner = await store.open('my-bgr');
  const data = new Float32Array(3 * 4);
  data.fill(0.2, 0, 4); // R
  data.fill(0.4, 4, 8); // G
  data.fill(0.8, 8, 12); // B
  const out = await runner.run({ data, width: 2, height: 2 });
  assert.equal(out.width, 4);
  const px = (c: number) => out.data[c * 16]!;
  assert.ok(Math.abs(px(0) - 0.2) < 1e-6, `red ${px(0)}`);
  assert.ok(Math.abs(px(1) - 0.4) < 1e-6, `green ${px(1)}`);
  assert.ok(Math.abs(px(2) - 0.4) < 1e-6, `blue halved: ${px(2)}`);
  await store.close();
});

test('an ncnn pair joins the catalog with its scale taken from the name', () => {
  const store = testStore();
  const dir = path.join(store.dir, 'models');
  fs.mkdirSync(dir);
  const param = '7767517\n2 2\nInput in 0 1 data\nPixelShuffle ps 1 1 data out 0=2\n';
  // 12 input channels → 3 output channels at 2x; PixelShuffle has no weights.
  fs.writeFileSync(
    path.join(dir, 'ps-x2.param'),
    param.replace('Input in 0 1 data', 'Input in 0 1 data 2=12'),
  );
  fs.writeFileSync(path.join(dir, 'ps-x2.bin'), new Uint8Array(0));
  const m = store.get('ps-x2');
  assert.deepEqual(m.scales, [2]);
  assert.equal(m.source.format, 'ncnn-file');
});

test('EXPECTED FAILURE - unusable model files are reported with their code and left out', () => {
  const store = testStore();
  const dir = path.join(store.dir, 'models');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'no-manifest.onnx'), bgr255Model());
  fs.writeFileSync(path.join(dir, 'bad-field.onnx'), bgr255Model());
  fs.writeFileSync(path.join(dir, 'bad-field.json'), JSON.stringify({ scale: 2, colour: 'red' }));
  fs.writeFileSync(path.join(dir, 'bad-scale.onnx'), bgr255Model());
  fs.writeFileSync(path.join(dir, 'bad-scale.json'), JSON.stringify({ scale: 2.5 }));
  fs.writeFileSync(path.join(dir, 'realesrgan-x4plus.onnx'), bgr255Model());
  fs.writeFileSync(path.join(dir, 'realesrgan-x4plus.json'), JSON.stringify({ scale: 4 }));
  fs.writeFileSync(path.join(dir, 'lonely.param'), '7767517\n1 1\nInput in 0 1 data\n');
  const problems = new Map(store.userModelProblems().map((p) => [path.basename(p.file), p.error]));
  assert.equal(problems.get('no-manifest.onnx')?.code, 'model_manifest_invalid');
  assert.match(problems.get('bad-field.onnx')?.message ?? '', /colour/);
  assert.match(problems.get('bad-scale.onnx')?.message ?? '', /scale must be integer/);
  assert.match(problems.get('realesrgan-x4plus.onnx')?.message ?? '', /already taken/);
  assert.equal(problems.get('lonely.param')?.code, 'model_format_invalid');
  assert.ok(!store.list().some((m) => m.origin === 'user'), 'none of them is listed');
  assert.equal(store.get('realesrgan-x4plus').origin, 'builtin');
});

test('scales are read from community naming conventions', () => {
  assert.equal(scaleFromName('4x_NMKD-Siax_200k'), 4);
  assert.equal(scaleFromName('realesrgan-x4plus'), 4);
  assert.equal(scaleFromName('RealESRGAN_x2plus'), 2);
  assert.equal(scaleFromName('remacri'), undefined);
  assert.equal(scaleFromName('model-x42'), undefined);
});
