import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { runSegmented } from '../../src/engine/segmented.js';
import { crop, planarSink } from '../../src/engine/tiles.js';
import { isPixeliftError } from '../../src/errors.js';
import { BUILTIN_MODELS } from '../../src/models/catalog.js';
import { importNcnn } from '../../src/models/import/ncnn.js';
import { decodeModel, encodeModel, opCounts } from '../../src/models/onnx/qdq.js';
import { INT8_AUTO, int8AutoFor, QUANTIZER_VERSION, quantizeInt8 } from '../../src/models/quantize.js';
import { ModelRunner, SegmentedRunner, type Tile } from '../../src/models/runner.js';
import { segmentGraph } from '../../src/models/segments.js';
import { NCNN_DIR } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

// An evaluation photo, not one of the calibration photos (assets/calibration).
const PHOTO = repoPath('bench/photos/coffee.png'); // 600x400, CC0 (bench/photos/README.md)
const X4FAST = BUILTIN_MODELS.find((m) => m.id === 'realesrgan-x4fast')!;
const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' };

const fp32 = (() => {
  const param = fs.readFileSync(`${NCNN_DIR}/realesrgan-x4fast.param`, 'utf8');
  const bin = new Uint8Array(fs.readFileSync(`${NCNN_DIR}/realesrgan-x4fast.bin`));
  return importNcnn(param, bin, { file: 'realesrgan-x4fast.param' }).onnx;
})();
let int8Once: Promise<Uint8Array> | undefined;
const int8 = () => {
  int8Once ??= quantizeInt8(fp32, X4FAST);
  return int8Once;
};

async function photo(left: number, top: number, width: number, height: number): Promise<Tile> {
  const raw = await sharp(PHOTO).extract({ left, top, width, height }).removeAlpha().raw().toBuffer();
  const n = width * height;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[c * n + i] = raw[3 * i + c]! / 255;
  return { data, width, height };
}

async function run(onnx: Uint8Array, image: Tile): Promise<Tile> {
  const runner = new ModelRunner(X4FAST, 4, await ort.InferenceSession.create(onnx, options), 'cpu');
  try {
    return await runner.run(image);
  } finally {
    await runner.release();
  }
}

const clamp = (v: number) => Math.min(1, Math.max(0, v));

function psnr(a: Tile, b: Tile): number {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (clamp(a.data[i]!) - clamp(b.data[i]!)) ** 2;
  return 10 * Math.log10(a.data.length / se);
}

test('INT8_AUTO names only built-in networks at their native scales, and the quantizer has a version for cache keys', () => {
  const networks = BUILTIN_MODELS.filter((m) => m.source.format === 'ncnn' || m.source.format === 'tfjs');
  for (const [id, scales] of INT8_AUTO) {
    const m = networks.find((n) => n.id === id);
    assert.ok(m, `${id} is a built-in network`);
    assert.ok(scales.length > 0, `${id} names a scale`);
    for (const s of scales) assert.ok(m.scales.includes(s), `${id} has a ×${s} network`);
  }
  assert.match(QUANTIZER_VERSION, /^\S+$/);
});

test('auto runs x4plus in int8 only where its weights get 8 bits (the bits it was measured with); rrdn-thick ×4 with either', () => {
  assert.deepEqual(int8AutoFor(8).get('realesrgan-x4plus'), [4]);
  assert.equal(int8AutoFor(7).has('realesrgan-x4plus'), false);
  for (const bits of [7, 8] as const) assert.deepEqual(int8AutoFor(bits).get('rrdn-thick'), [4]);
});

test('quantizeInt8 is deterministic: the same fp32 bytes give the same int8 bytes', async () => {
  const a = await int8();
  const b = await quantizeInt8(fp32, X4FAST);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
});

test('the int8 x4fast keeps its Convs on int8 weights and stays close to fp32 on a real photo', async (t) => {
  const q = await int8();
  const ops = opCounts(q);
  assert.equal(ops.get('Conv'), 34, 'every Conv is kept, reading dequantized int8 weights');
  assert.ok((ops.get('QuantizeLinear') ?? 0) >= 34);
  // onnxruntime fuses every DQ → Conv → Q into a QLinearConv (the point of the exercise).
  const dump = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-int8-')), 'optimized.onnx');
  await (await ort.InferenceSession.create(q, { ...options, optimizedModelFilePath: dump })).release();
  const fused = opCounts(fs.readFileSync(dump));
  assert.equal(fused.get('com.microsoft.QLinearConv'), 34);
  assert.equal(fused.get('Conv'), undefined);
  const image = await photo(200, 120, 64, 48);
  const [ref, out] = [await run(fp32, image), await run(q, image)];
  // Measured on this crop: 36.1 dB with 7-bit weights (AVX2), 40.2 dB with 8 (VNNI); on the
  // bench photos 33.6 and 37.0 dB (npm run bench:int8, docs/int8.md).
  const db = psnr(ref, out);
  t.diagnostic(`int8 vs fp32: ${db.toFixed(2)} dB`);
  assert.ok(db > 33, `int8 vs fp32: ${db.toFixed(2)} dB`);
  assert.ok(db < 80, 'the int8 output is not the fp32 one');
});

test('an int8 graph segments, and its tiled output equals its whole-image output within 1/255', async (t) => {
  const q = await int8();
  const plan = segmentGraph(q, { targetHalo: 8 });
  assert.notEqual(typeof plan, 'string', String(plan));
  if (typeof plan === 'string') return;
  assert.ok(plan.segments.length >= 3, `cut into ${plan.segments.length} segments`);
  for (const seg of plan.segments) {
    // Every boundary is a float value: no uint8 tensor crosses between segments.
    const g = decodeModel(seg.onnx).graph!;
    for (const v of [...(g.input ?? []), ...(g.output ?? [])]) assert.equal(v.type?.tensorType?.elemType, 1);
    // Each Conv's weights come with it, as the DequantizeLinear of an int8 initializer.
    const dq = new Map(
      (g.node ?? []).filter((n) => n.opType === 'DequantizeLinear').map((n) => [n.output![0]!, n]),
    );
    const int8 = new Set((g.initializer ?? []).filter((t) => t.dataType === 3).map((t) => t.name));
    for (const conv of (g.node ?? []).filter((n) => n.opType === 'Conv')) {
      assert.ok(int8.has(dq.get(conv.input![1]!)?.input?.[0]), `${conv.name} reads int8 weights`);
    }
  }
  const runner = new SegmentedRunner(
    X4FAST,
    4,
    plan,
    (i) => ort.InferenceSession.create(plan.segments[i]!.onnx, options),
    'cpu',
  );
  const image = await photo(320, 200, 72, 54);
  const border = 16;
  const tiled = await runSegmented(image, runner, { budget: 2 ** 20, border }, planarSink(72 * 4, 54 * 4));
  await runner.release();
  const [w, h] = [image.width + 2 * border, image.height + 2 * border];
  const whole = await run(q, { data: crop(image, -border, -border, w, h), width: w, height: h });
  const cut = crop(whole, border * 4, border * 4, image.width * 4, image.height * 4);
  let worst = 0;
  for (let i = 0; i < cut.length; i++)
    worst = Math.max(worst, Math.abs(clamp(cut[i]!) - clamp(tiled.data[i]!)));
  t.diagnostic(`max |tiled - whole| = ${(worst * 255).toFixed(3)}/255`);
  assert.ok(worst <= 1 / 255, `max |tiled - whole| = ${(worst * 255).toFixed(3)}/255`);
});

test('EXPECTED FAILURE - bytes that are not an ONNX model are refused with model_format_invalid', async () => {
  await assert.rejects(quantizeInt8(new Uint8Array([0xff, 0xff, 0xff, 0x0f, 1, 2]), X4FAST), (err) => {
    assert.ok(isPixeliftError(err, 'model_format_invalid'), String(err));
    assert.match((err as Error).message, /realesrgan-x4fast/);
    return true;
  });
});

test('EXPECTED FAILURE - a graph without a quantizable Conv is refused with model_format_invalid', async () => {
  const model = decodeModel(fp32);
  // Drop the weights: no Conv has float weights any more.
  model.graph!.initializer = [];
  await assert.rejects(quantizeInt8(encodeModel(model), X4FAST), (err) => {
    assert.ok(isPixeliftError(err, 'model_format_invalid'), String(err));
    assert.match((err as Error).message, /no Conv/);
    return true;
  });
});

test('EXPECTED FAILURE - weights that make the network give NaN are refused, not quantized', async () => {
  const model = decodeModel(fp32);
  const w = model.graph!.initializer!.find((t) => t.name === 'Conv_0.weight')!;
  const nan = new Float32Array(w.rawData!.byteLength / 4).fill(Number.NaN);
  w.rawData = new Uint8Array(nan.buffer);
  await assert.rejects(quantizeInt8(encodeModel(model), X4FAST), (err) => {
    assert.ok(isPixeliftError(err, 'model_format_invalid'), String(err));
    assert.match((err as Error).message, /not finite/);
    return true;
  });
});
