/**
 * One TF.js instance in a worker thread: loads an @upscalerjs layers model on the requested
 * backend, then runs a tile whenever the parent asks. TF.js' wasm backend cannot use threads
 * in Node, so the parent runs one of these per core to use the whole machine.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { syntheticImage, toNhwc } from './synthetic-image.js';
import { registerEsrganLayers } from './tfjs-layers.js';

export interface PeerWorkerData {
  readonly backend: 'wasm' | 'cpu';
  readonly modelDir: string;
  readonly seed: number;
}

export type PeerRequest =
  | { readonly type: 'run'; readonly side: number; readonly returnOutput?: boolean }
  | { readonly type: 'exit' };

export type PeerReply =
  | {
      readonly type: 'ready';
      readonly backend: string;
      readonly simd: boolean;
      readonly multithread: boolean;
      readonly threads: number;
    }
  | {
      readonly type: 'done';
      readonly ms: number;
      readonly outputShape: readonly number[];
      /** NHWC, only when asked for (a cross-check against the ONNX conversion). */
      readonly output?: Float32Array;
    }
  | { readonly type: 'error'; readonly message: string };

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: object[] }[];
}

const port = parentPort;
if (!port) throw new Error('tfjs-peer-worker must run in a worker thread');
const data = workerData as PeerWorkerData;
const reply = (m: PeerReply) => port.postMessage(m);

try {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Production mode, as a deployment would run: also silences the cpu backend's
  // "install tfjs-node to speed things up" banner, which is noise in a report.
  tf.env().set('PROD', true);
  if (!(await tf.setBackend(data.backend))) throw new Error(`backend ${data.backend} failed to initialise`);
  await tf.ready();
  registerEsrganLayers(tf);

  const json = JSON.parse(await readFile(path.join(data.modelDir, 'model.json'), 'utf8')) as ModelJson;
  const shards = await Promise.all(
    json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(path.join(data.modelDir, p))),
  );
  const weights = Buffer.concat(shards);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as TfWeightSpecs,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
  const wasmLoaded = tf.getBackend() === 'wasm';
  reply({
    type: 'ready',
    backend: tf.getBackend(),
    simd: wasmLoaded && Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    multithread: wasmLoaded && Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')),
    threads: wasmLoaded ? wasm.getThreadsCount() : 1,
  });

  const inputs = new Map<number, TfTensor>();
  port.on('message', async (msg: PeerRequest) => {
    if (msg.type === 'exit') {
      port.close();
      return;
    }
    try {
      let x = inputs.get(msg.side);
      if (!x) {
        const image = toNhwc(syntheticImage(msg.side, data.seed), msg.side);
        x = tf.tensor4d(image, [1, msg.side, msg.side, 3]);
        inputs.set(msg.side, x);
      }
      const t = performance.now();
      const y = model.predict(x) as TfTensor;
      const values = (await y.data()) as Float32Array;
      const ms = performance.now() - t;
      reply({ type: 'done', ms, outputShape: y.shape, output: msg.returnOutput ? values : undefined });
      y.dispose();
    } catch (err) {
      reply({ type: 'error', message: (err as Error).message });
    }
  });
} catch (err) {
  reply({ type: 'error', message: (err as Error).message });
}

type TfTensor = import('@tensorflow/tfjs').Tensor;
type TfWeightSpecs = import('@tensorflow/tfjs').io.WeightsManifestEntry[];
