/**
 * face-api itself (its Node build on TF.js's wasm backend) as the reference for the converted
 * face detector and landmark net. It is loaded through require: its node-wasm bundle is
 * CommonJS and brings its own copy of @tensorflow/tfjs (`faceapi.tf`), so tensors for it are
 * made with that copy.
 */
import { createRequire } from 'node:module';
import { repoPath } from './paths.js';

const require = createRequire(import.meta.url);

// biome-ignore lint/suspicious/noExplicitAny: the bundle's types pull in the whole of tfjs.
type FaceApi = any;

let loaded: Promise<FaceApi> | undefined;

export function faceApi(): Promise<FaceApi> {
  loaded ??= (async () => {
    const api = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    if (!(await api.tf.setBackend('wasm').catch(() => false))) await api.tf.setBackend('cpu');
    await api.tf.ready();
    const dir = repoPath('node_modules/@vladmandic/face-api/model');
    await api.nets.tinyFaceDetector.loadFromDisk(dir);
    await api.nets.faceLandmark68TinyNet.loadFromDisk(dir);
    return api;
  })();
  return loaded;
}

/** Raw detector output for HWC pixels 0..255 at 416², NHWC [1,13,13,25]. */
export async function referenceDetectorOutput(hwc: Float32Array): Promise<Float32Array> {
  const api = await faceApi();
  const x = api.tf.tensor3d(hwc, [416, 416, 3]);
  const out = await api.nets.tinyFaceDetector.forward(x, 416);
  const data = (await out.data()) as Float32Array;
  x.dispose();
  out.dispose();
  return data;
}

/** Landmark net output (136 values, 0..1 of the crop) for HWC pixels 0..255 at 112². */
export async function referenceLandmarkOutput(hwc: Float32Array): Promise<Float32Array> {
  const api = await faceApi();
  const x = api.tf.tensor3d(hwc, [112, 112, 3]);
  const out = await api.nets.faceLandmark68TinyNet.forward(x);
  const data = (await out.data()) as Float32Array;
  x.dispose();
  out.dispose();
  return data;
}

export interface ReferenceFace {
  readonly box: { x: number; y: number; width: number; height: number };
  readonly score: number;
  readonly landmarks68: [number, number][];
}

/** face-api's whole pipeline (tiny detector at 416, tiny landmarks) on an RGB 8-bit image. */
export async function referenceFaces(
  rgb: Uint8Array,
  width: number,
  height: number,
): Promise<ReferenceFace[]> {
  const api = await faceApi();
  const x = api.tf.tensor3d(rgb, [height, width, 3], 'int32');
  const found = await api
    .detectAllFaces(x, new api.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 }))
    .withFaceLandmarks(true);
  x.dispose();
  // biome-ignore lint/suspicious/noExplicitAny: see FaceApi.
  return found.map((f: any) => ({
    box: {
      x: f.detection.box.x,
      y: f.detection.box.y,
      width: f.detection.box.width,
      height: f.detection.box.height,
    },
    score: f.detection.score,
    // biome-ignore lint/suspicious/noExplicitAny: see FaceApi.
    landmarks68: f.landmarks.positions.map((p: any) => [p.x, p.y]),
  }));
}
