/**
 * The TF.js importer checked against TF.js itself (test/helpers/tfjs-reference.ts): every
 * shipped @upscalerjs ESRGAN model is run in TF.js (wasm backend, the packages' own custom
 * layer classes) and, converted, in onnxruntime-node on the same patch; a synthetic model covers
 * the layer options the shipped ones do not use; the packages' own sample outputs pin the
 * value range each network runs at.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { isPixeliftError } from '../../../src/errors.js';
import { importTfjs, importTfjsDir, TFJS_LAYER_CLASSES } from '../../../src/models/import/tfjs.js';
import {
  type LayersModelFiles,
  loadTfModel,
  maxAbsDiff,
  modelDir,
  nchwToNhwc,
  nhwcToNchw,
  packageDefinition,
  packageRoot,
  predictNhwc,
  readLayersModel,
  seededRandom,
  shippedScales,
  texturedPatch,
  tfBackend,
  VARIANTS,
} from '../../helpers/tfjs-reference.js';

const PATCH = 32;
const TOLERANCE = 1e-3;

async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: readonly number[]) {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 2,
  });
  try {
    const out = (await session.run({ input: new ort.Tensor('float32', input, dims) })).output!;
    return { data: out.data as Float32Array, dims: out.dims as number[] };
  } finally {
    await session.release();
  }
}

const manifestParams = (files: LayersModelFiles): number =>
  files.json.weightsManifest
    .flatMap((g) => g.weights)
    .reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);

for (const variant of VARIANTS) {
  for (const scale of shippedScales(variant)) {
    test(`@upscalerjs/esrgan-${variant} x${scale} converted to ONNX matches TF.js within ${TOLERANCE} on a ${PATCH}×${PATCH} patch`, async (t) => {
      const dir = modelDir(variant, scale);
      const files = readLayersModel(dir);
      const definition = packageDefinition(variant, scale);
      // The network's own range (0..255 for the RDN slim/medium nets): both runtimes get the
      // same values, and the error is reported in 0..1 units, as the runner hands pixels out.
      const range = definition.inputRange[1];
      const input = texturedPatch(PATCH).map((v) => v * range);

      const tfModel = await loadTfModel(files, definition);
      const expected = await predictNhwc(tfModel, nchwToNhwc(input, 3, PATCH, PATCH), PATCH, PATCH, 3);
      tfModel.dispose();

      const { onnx, stats } = await importTfjsDir(dir, { graphName: `esrgan-${variant}-x${scale}` });
      const actual = await runOnnx(onnx, input, [1, 3, PATCH, PATCH]);

      const side = PATCH * scale;
      assert.deepEqual(expected.shape, [1, side, side, 3]);
      assert.deepEqual(actual.dims, [1, 3, side, side]);
      const error = maxAbsDiff(actual.data, nhwcToNchw(expected.data, 3, side, side)) / range;
      t.diagnostic(
        `esrgan-${variant} x${scale}: max abs error vs TF.js ${error.toExponential(2)} (0..1 units; network range 0..${range})`,
      );
      assert.ok(error <= TOLERANCE, `max abs error ${error} exceeds ${TOLERANCE}`);

      assert.equal(stats.scale, scale);
      assert.equal(stats.inputChannels, 3);
      assert.equal(stats.outputChannels, 3);
      assert.equal(stats.params, manifestParams(files));
    });
  }
}

// The packages ship the output of their own pipeline on assets/fixture.png. Reproducing it pins
// the value range: slim and medium (RDN) only match when fed 0..255, thick (RRDN) only at 0..1.
for (const variant of VARIANTS) {
  test(`@upscalerjs/esrgan-${variant} x2 converted to ONNX reproduces the package's sample result.png within one level`, async () => {
    const root = packageRoot(variant);
    const fixture = await sharp(path.join(root, 'assets/fixture.png'))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const sample = await sharp(path.join(root, 'assets/samples/2x/result.png'))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = fixture.info;
    const range = packageDefinition(variant, 2).inputRange[1];
    const input = nhwcToNchw(
      Float32Array.from(fixture.data, (v) => (v / 255) * range),
      3,
      height,
      width,
    );

    const { onnx } = await importTfjsDir(modelDir(variant, 2));
    const out = await runOnnx(onnx, input, [1, 3, height, width]);

    assert.deepEqual(out.dims, [1, 3, sample.info.height, sample.info.width]);
    const pixels = nchwToNhwc(out.data, 3, sample.info.height, sample.info.width).map((v) =>
      Math.round(Math.min(255, Math.max(0, (v / range) * 255))),
    );
    assert.ok(maxAbsDiff(pixels, Float32Array.from(sample.data)) <= 1);
  });
}

// --- a synthetic model for the options the shipped models leave unused ---------------------------

type Json = Record<string, unknown>;

const conv = (name: string, input: string, filters: number, extra: Json = {}): Json => ({
  class_name: 'Conv2D',
  name,
  config: {
    name,
    filters,
    kernel_size: [3, 3],
    strides: [1, 1],
    padding: 'same',
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    groups: 1,
    activation: 'linear',
    use_bias: true,
    ...extra,
  },
  inbound_nodes: [[[input, 0, 0, {}]]],
});

const layer = (class_name: string, name: string, inputs: string[], config: Json = {}): Json => ({
  class_name,
  name,
  config: { name, ...config },
  inbound_nodes: [inputs.map((i) => [i, 0, 0, {}])],
});

/**
 * 3 → (a) 4×2 conv (odd SAME padding totals), fused relu, 6 ch → (b) 3×3 stride-2 SAME conv, no bias, 6 ch at
 * ½ scale → (u) bilinear ×2 → (cat) a‖u 12 ch → (m) MultiplyBeta → (s) Add of m, m and a 1×1
 * conv of cat (three-way) → (sig) sigmoid → (p) dilated-2 conv, 12 ch → PixelShuffle2x → 3 ch at 2× scale.
 * Listed out of order: Keras writes topological order, the importer must not depend on it.
 */
function syntheticModel(): { json: Json; weights: Uint8Array; params: number; flops: number } {
  const layers: Json[] = [
    layer('InputLayer', 'img', [], { batch_input_shape: [null, null, null, 3], dtype: 'float32' }),
    conv('b', 'a', 6, { kernel_size: [3, 3], strides: [2, 2], use_bias: false }),
    conv('a', 'img', 6, { kernel_size: [4, 2], activation: 'relu' }),
    layer('UpSampling2D', 'u', ['b'], {
      size: [2, 2],
      data_format: 'channels_last',
      interpolation: 'bilinear',
    }),
    layer('Concatenate', 'cat', ['a', 'u'], { axis: -1 }),
    layer('MultiplyBeta', 'm', ['cat'], { beta: 0.2 }),
    conv('c', 'cat', 12, { kernel_size: [1, 1], padding: 'valid' }),
    layer('Add', 's', ['m', 'm', 'c']),
    layer('Activation', 'sig', ['s'], { activation: 'sigmoid' }),
    conv('p', 'sig', 12, { dilation_rate: [2, 2] }),
    layer('PixelShuffle2x', 'shuffle', ['p'], { scale: 2 }),
  ];
  const specs: [string, number[]][] = [
    ['a/kernel', [4, 2, 3, 6]],
    ['a/bias', [6]],
    ['b/kernel', [3, 3, 6, 6]],
    ['p/kernel', [3, 3, 12, 12]],
    ['c/kernel', [1, 1, 12, 12]],
    ['c/bias', [12]],
    ['p/bias', [12]],
  ];
  const rand = seededRandom(7);
  const counts = specs.map(([, shape]) => shape.reduce((x, y) => x * y, 1));
  const params = counts.reduce((x, y) => x + y, 0);
  const values = Float32Array.from({ length: params }, () => (rand() - 0.5) * 0.6);
  const json = {
    format: 'layers-model',
    modelTopology: {
      model_config: {
        class_name: 'Functional',
        config: {
          name: 'synthetic',
          layers,
          input_layers: [['img', 0, 0]],
          output_layers: [['shuffle', 0, 0]],
        },
      },
    },
    weightsManifest: [
      {
        paths: ['group1-shard1of1.bin'],
        weights: specs.map(([name, shape]) => ({ name, shape, dtype: 'float32' })),
      },
    ],
  };
  // Per input pixel: a 2·8·3·6, b 2·9·6·6 at ¼ the pixels, c 2·12·12, p 2·9·12·12.
  const flops = 2 * 8 * 3 * 6 + (2 * 9 * 6 * 6) / 4 + 2 * 12 * 12 + 2 * 9 * 12 * 12;
  return { json, weights: new Uint8Array(values.buffer), params, flops };
}

test('a synthetic model with even and dilated kernels, stride-2 SAME, bilinear upsampling, a three-way Add and PixelShuffle matches TF.js', async (t) => {
  const { json, weights, params, flops } = syntheticModel();
  const size = 16;
  const input = texturedPatch(size, 3);
  const files = json as unknown as LayersModelFiles['json'];
  const tfModel = await loadTfModel({ json: files, weights }, packageDefinition('thick', 2));
  const expected = await predictNhwc(tfModel, nchwToNhwc(input, 3, size, size), size, size, 3);
  tfModel.dispose();

  const { onnx, stats } = importTfjs(json, weights);
  const actual = await runOnnx(onnx, input, [1, 3, size, size]);
  assert.deepEqual(actual.dims, [1, 3, 2 * size, 2 * size]);
  const error = maxAbsDiff(actual.data, nhwcToNchw(expected.data, 3, 2 * size, 2 * size));
  t.diagnostic(`max abs error ${error.toExponential(2)}`);
  assert.ok(error <= 1e-5, `max abs error ${error}`);
  assert.deepEqual(stats, {
    params,
    flopsPerInputPixel: flops,
    scale: 2,
    inputChannels: 3,
    outputChannels: 3,
  });
});

// --- rejections -----------------------------------------------------------------------------------

test('EXPECTED FAILURE - an unknown layer class is rejected with model_layer_unsupported naming the class and layer', () => {
  const { json, weights } = syntheticModel();
  const layers = (json.modelTopology as { model_config: { config: { layers: Json[] } } }).model_config.config
    .layers;
  layers[4] = layer('Cropping2D', 'crop', ['a', 'u']);
  assert.throws(
    () => importTfjs(json, weights, { file: 'synthetic/model.json' }),
    (err: unknown) => {
      assert.ok(isPixeliftError(err, 'model_layer_unsupported'));
      assert.deepEqual(err.details, {
        format: 'tfjs',
        layer: 'Cropping2D',
        name: 'crop',
        file: 'synthetic/model.json',
        line: 4,
      });
      assert.equal(err.message, 'Unsupported tfjs layer type "Cropping2D" (crop) at synthetic/model.json:4');
      return true;
    },
  );
});

test('EXPECTED FAILURE - truncated weights are rejected with model_format_invalid', () => {
  const files = readLayersModel(modelDir('slim', 2));
  assert.throws(
    () => importTfjs(files.json, files.weights.subarray(0, files.weights.length - 4)),
    (err: unknown) => isPixeliftError(err, 'model_format_invalid') && /describes \d+ bytes/.test(err.message),
  );
});

test('EXPECTED FAILURE - a model folder missing a shard is rejected with model_format_invalid', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-tfjs-'));
  try {
    fs.copyFileSync(path.join(modelDir('slim', 2), 'model.json'), path.join(dir, 'model.json'));
    await assert.rejects(
      importTfjsDir(dir),
      (err: unknown) =>
        isPixeliftError(err, 'model_format_invalid') && /shard .* is missing/.test(err.message),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the TF.js reference runs on the wasm backend, not the ~20× slower cpu fallback', async () => {
  assert.equal(await tfBackend(), 'wasm');
});

test('the layer classes the importer lists are exactly those the 12 shipped UpscalerJS models use', () => {
  const used = new Set<string>();
  for (const variant of VARIANTS) {
    for (const scale of [2, 3, 4, 8] as const) {
      const file = path.join(modelDir(variant, scale), 'model.json');
      const json = JSON.parse(fs.readFileSync(file, 'utf8'));
      for (const l of json.modelTopology.model_config.config.layers) {
        used.add(String(l.class_name).replace(/^PixelShuffle\d+x$/, 'PixelShuffle<N>x'));
      }
    }
  }
  assert.deepEqual([...used].sort(), [...TFJS_LAYER_CLASSES].sort());
});
