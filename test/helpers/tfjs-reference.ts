/**
 * TF.js itself as the reference for the TF.js → ONNX importer.
 *
 * The custom layers come from the @upscalerjs packages' own code: each package's model
 * definition has a `setup(tf)` that registers `MultiplyBeta` and `PixelShuffle<N>x`
 * (dist/…/packages/shared/src/esrgan/esrgan.js). Their ESM build imports without file
 * extensions, which Node's ESM loader refuses, so the CommonJS build is loaded via require.
 *
 * Backend: tfjs-backend-wasm initialises in Node from its bundled .wasm and runs the
 * thick x4 network on 32×32 in about 0.7 s, against about 13 s for the pure-JS cpu backend.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { repoPath } from './paths.js';
import { seededRandom } from './random.js';

const require = createRequire(import.meta.url);

export type Variant = 'slim' | 'medium' | 'thick';

export const VARIANTS: readonly Variant[] = ['slim', 'medium', 'thick'];

/** What the package's own model definition declares (inputRange is 0..255 for its RDN nets). */
export interface PackageDefinition {
  readonly scale: number;
  readonly inputRange: readonly [number, number];
  readonly outputRange: readonly [number, number];
  readonly meta: { readonly architecture: string };
  readonly setup?: (tfjs: typeof tf) => void;
}

export const packageRoot = (variant: Variant): string =>
  repoPath('node_modules/@upscalerjs', `esrgan-${variant}`);

export const modelDir = (variant: Variant, scale: number): string =>
  path.join(packageRoot(variant), 'models', `x${scale}`);

/** Scales the package ships a model for. */
export function shippedScales(variant: Variant): number[] {
  return [2, 3, 4, 8].filter((s) => fs.existsSync(path.join(modelDir(variant, s), 'model.json')));
}

export function packageDefinition(variant: Variant, scale: number): PackageDefinition {
  const mod = require(`@upscalerjs/esrgan-${variant}/${scale}x`) as
    | PackageDefinition
    | { default: PackageDefinition };
  return 'default' in mod ? mod.default : mod;
}

let backend: Promise<string> | undefined;

/** Select the wasm backend once (cpu if wasm cannot start); returns the backend's name. */
export function tfBackend(): Promise<string> {
  backend ??= (async () => {
    const ok = await tf.setBackend('wasm').catch(() => false);
    if (!ok) await tf.setBackend('cpu');
    await tf.ready();
    return tf.getBackend();
  })();
  return backend;
}

export interface LayersModelFiles {
  readonly json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  /** All shards, concatenated in manifest order. */
  readonly weights: Uint8Array;
}

export function readLayersModel(dir: string): LayersModelFiles {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as LayersModelFiles['json'];
  const weights = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))),
  );
  return { json, weights };
}

/** Registers the package's custom layers for `scale`, then loads the model from memory. */
export async function loadTfModel(
  files: LayersModelFiles,
  register: PackageDefinition,
): Promise<tf.LayersModel> {
  await tfBackend();
  register.setup?.(tf);
  const { weights } = files;
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: files.json.modelTopology,
      weightSpecs: files.json.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer.slice(
        weights.byteOffset,
        weights.byteOffset + weights.byteLength,
      ) as ArrayBuffer,
    }),
  );
}

/** Runs one NHWC image through the model; returns the NHWC output and its shape. */
export async function predictNhwc(
  model: tf.LayersModel,
  data: Float32Array,
  height: number,
  width: number,
  channels: number,
): Promise<{ data: Float32Array; shape: number[] }> {
  const input = tf.tensor4d(data, [1, height, width, channels]);
  const output = model.predict(input) as tf.Tensor;
  try {
    return { data: (await output.data()) as Float32Array, shape: output.shape };
  } finally {
    tf.dispose([input, output]);
  }
}

// --- layout and inputs --------------------------------------------------------------------------

export function nchwToNhwc(src: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) out[i * c + ch] = src[ch * h * w + i]!;
  return out;
}

export function nhwcToNchw(src: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) out[ch * h * w + i] = src[i * c + ch]!;
  return out;
}

export { seededRandom };

/** NCHW RGB patch, values 0..1: gradients, a diagonal edge and a ring, plus seeded noise. */
export function texturedPatch(size: number, seed = 1): Float32Array {
  const rand = seededRandom(seed);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const r = Math.hypot(x - size / 2, y - size / 2);
      const base = [x / (size - 1), x + y < size ? 0.25 : 0.75, 0.5 + 0.35 * Math.cos(r * 0.8)];
      for (let c = 0; c < 3; c++) {
        out[c * plane + i] = Math.min(1, Math.max(0, base[c]! + (rand() - 0.5) * 0.2));
      }
    }
  }
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
