/**
 * Face detection that ships with Pixelift: face-api's tiny face detector and 68-point tiny
 * landmark net (MIT, installed from npm), converted to ONNX by src/models/import/face-api.ts
 * and run in onnxruntime like every other network.
 *
 * The detector sees a copy of the image whose long side is at most DETECT_MAX_SIDE: once whole
 * (letterboxed into 416², for faces that fill the frame) and, when the copy is larger than 416,
 * in overlapping 416² windows, so a face of ~24 px in a 1 MP photo is still ~24 px to the net
 * (the tiny detector's smallest anchor covers ~50 px at stride 32, but its box regression
 * reaches down to ~20 px). Boxes from all windows go through one non-maximum suppression.
 * Landmarks are read from the full-resolution image, one 112² crop per face.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import {
  DETECTOR_ANCHORS,
  DETECTOR_INPUT,
  DETECTOR_MEAN_RGB,
  FACE_API_PACKAGE,
  LANDMARK_INPUT,
  LANDMARK_MEAN_RGB,
  landmark68TinyGraph,
  readFaceApiWeights,
  tinyFaceDetectorGraph,
} from '../../models/import/face-api.js';
import type { Tile } from '../../models/runner.js';

export type Point = readonly [number, number];

export interface FaceBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Face {
  /** In the pixels of the image detection ran on. */
  readonly box: FaceBox;
  /** Detector confidence 0..1. */
  readonly score: number;
  /** Left eye, right eye (as seen in the image), nose tip, mouth left, mouth right. */
  readonly landmarks: readonly Point[];
  readonly landmarks68: readonly Point[];
}

export interface DetectOptions {
  /** Minimum detector score. */
  readonly minScore?: number;
  /** Smallest face to find, px of the image; the detector's copy is scaled so it is ~40 px. */
  readonly minFace?: number;
  /** Cap on the long side of the copy the detector sees, px (bounds the work on big images). */
  readonly maxSide?: number;
}

export const DETECT_DEFAULTS = {
  // face-api's default is 0.5; at 0.5 the upscaled windows let a 0.52 false positive through on
  // the astronaut's suit (test/engine/faces/detect.test.ts), true faces score 0.68..0.96 there.
  minScore: 0.6,
  minFace: 24,
  maxSide: 2048,
  /** face-api's IoU threshold for the tiny detector. */
  iou: 0.4,
} as const;

/** The model folder of the installed face-api package. */
export function faceApiModelDir(): string {
  const pkg = createRequire(import.meta.url).resolve(`${FACE_API_PACKAGE}/package.json`);
  return path.join(path.dirname(pkg), 'model');
}

export interface FaceNets {
  readonly detector: ort.InferenceSession;
  readonly landmarks: ort.InferenceSession;
}

let shared: Promise<FaceNets> | undefined;

/** Convert the shipped weights and open both sessions once per process (~40 ms). */
export function loadFaceNets(threads = 1): Promise<FaceNets> {
  shared ??= (async () => {
    const dir = faceApiModelDir();
    const [det, lm] = await Promise.all([
      readFaceApiWeights(dir, 'tiny_face_detector_model'),
      readFaceApiWeights(dir, 'face_landmark_68_tiny_model'),
    ]);
    const opts: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    };
    return {
      detector: await ort.InferenceSession.create(tinyFaceDetectorGraph(det), opts),
      landmarks: await ort.InferenceSession.create(landmark68TinyGraph(lm), opts),
    };
  })();
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}

/** Find every face in `img` (planar RGB 0..1). */
export async function detectFaces(img: Tile, options: DetectOptions = {}): Promise<Face[]> {
  const nets = await loadFaceNets();
  const minScore = options.minScore ?? DETECT_DEFAULTS.minScore;
  const maxSide = options.maxSide ?? DETECT_DEFAULTS.maxSide;
  const long = Math.max(img.width, img.height);
  // The tiny detector finds faces from ~38 px (measured: a 31 px face is missed at 1:1, a 38 px
  // one found), so the copy is scaled by 40 / minFace, within the cap.
  const minFace = options.minFace ?? DETECT_DEFAULTS.minFace;
  const k = Math.min(40 / minFace, maxSide / long);
  const windows: { x: number; y: number; side: number }[] = [{ x: 0, y: 0, side: long }];
  const copyLong = long * k;
  if (copyLong > DETECTOR_INPUT * 1.25) {
    // Windows of 416 copy px overlapping by a quarter, in source px.
    const side = DETECTOR_INPUT / k;
    const step = side * 0.75;
    for (let y = 0; ; y += step) {
      const wy = Math.min(y, Math.max(0, img.height - side));
      for (let x = 0; ; x += step) {
        windows.push({ x: Math.min(x, Math.max(0, img.width - side)), y: wy, side });
        if (x + side >= img.width) break;
      }
      if (y + side >= img.height) break;
    }
  }
  const found: { box: FaceBox; score: number }[] = [];
  for (const w of windows) {
    const input = sampleSquare(img, w.x, w.y, w.side, DETECTOR_INPUT, DETECTOR_MEAN_RGB, {
      x0: w.x,
      y0: w.y,
      x1: Math.min(img.width, w.x + w.side),
      y1: Math.min(img.height, w.y + w.side),
    });
    const out = await nets.detector.run({
      input: new ort.Tensor('float32', input, [1, 3, DETECTOR_INPUT, DETECTOR_INPUT]),
    });
    for (const d of decodeDetections(out.output!.data as Float32Array, minScore)) {
      found.push({
        score: d.score,
        box: { x: w.x + d.x * w.side, y: w.y + d.y * w.side, width: d.w * w.side, height: d.h * w.side },
      });
    }
  }
  const kept = nonMaxSuppression(found, DETECT_DEFAULTS.iou);
  const faces: Face[] = [];
  for (const f of kept) {
    const box = clipBox(f.box, img.width, img.height);
    if (box.width < 4 || box.height < 4) continue;
    const lm68 = await landmarksOf(nets.landmarks, img, box);
    faces.push({ box, score: f.score, landmarks: fivePoints(lm68), landmarks68: lm68 });
  }
  return faces.sort((a, b) => b.score - a.score);
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Decode [1, 25, 13, 13] (anchor-major channels) into boxes relative to the 416 window. */
export function decodeDetections(
  out: Float32Array,
  minScore: number,
): { x: number; y: number; w: number; h: number; score: number }[] {
  const cells = DETECTOR_INPUT / 32;
  const plane = cells * cells;
  const res: { x: number; y: number; w: number; h: number; score: number }[] = [];
  for (let a = 0; a < DETECTOR_ANCHORS.length; a++) {
    const [ax, ay] = DETECTOR_ANCHORS[a]!;
    for (let row = 0; row < cells; row++)
      for (let col = 0; col < cells; col++) {
        const at = (c: number) => out[(a * 5 + c) * plane + row * cells + col]!;
        const score = sigmoid(at(4));
        if (score <= minScore) continue;
        const cx = (col + sigmoid(at(0))) / cells;
        const cy = (row + sigmoid(at(1))) / cells;
        const w = (Math.exp(at(2)) * ax) / cells;
        const h = (Math.exp(at(3)) * ay) / cells;
        res.push({ x: cx - w / 2, y: cy - h / 2, w, h, score });
      }
  }
  return res;
}

function iou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

function nonMaxSuppression<T extends { box: FaceBox; score: number }>(items: T[], threshold: number): T[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const it of sorted) if (kept.every((k) => iou(k.box, it.box) <= threshold)) kept.push(it);
  return kept;
}

function clipBox(b: FaceBox, width: number, height: number): FaceBox {
  const x = Math.max(0, b.x);
  const y = Math.max(0, b.y);
  return {
    x,
    y,
    width: Math.min(width, b.x + b.width) - x,
    height: Math.min(height, b.y + b.height) - y,
  };
}

/**
 * The square [x, x+side)² of `img` resampled (bilinear, TF's half-pixel-free mapping) to
 * `size`², as NCHW (pixel·255 − mean)/255; pixels outside `valid` are black, the way face-api
 * pads to a square with zeros.
 */
function sampleSquare(
  img: Tile,
  x: number,
  y: number,
  side: number,
  size: number,
  mean: readonly number[],
  valid: { x0: number; y0: number; x1: number; y1: number },
): Float32Array {
  const out = new Float32Array(3 * size * size);
  const s = side / size;
  const plane = img.width * img.height;
  const { x0, y0, x1, y1 } = valid;
  const scratch = [0, 0, 0];
  for (let j = 0; j < size; j++) {
    const sy = y + j * s;
    for (let i = 0; i < size; i++) {
      const sx = x + i * s;
      const inside = sx >= x0 && sx < x1 && sy >= y0 && sy < y1;
      if (inside) bilinear(img, plane, sx, sy, scratch);
      for (let c = 0; c < 3; c++) {
        const v = inside ? scratch[c]! * 255 : 0;
        out[c * size * size + j * size + i] = (v - mean[c]!) / 255;
      }
    }
  }
  return out;
}

/** Bilinear sample of planar RGB at (x, y), edges clamped; writes 3 values into `out`. */
export function bilinear(img: Tile, plane: number, x: number, y: number, out: number[]): void {
  const { width, height, data } = img;
  const xf = Math.max(0, Math.min(width - 1, x));
  const yf = Math.max(0, Math.min(height - 1, y));
  const x0 = Math.floor(xf);
  const y0 = Math.floor(yf);
  const x1 = Math.min(width - 1, x0 + 1);
  const y1 = Math.min(height - 1, y0 + 1);
  const fx = xf - x0;
  const fy = yf - y0;
  for (let c = 0; c < 3; c++) {
    const o = c * plane;
    const a = data[o + y0 * width + x0]!;
    const b = data[o + y0 * width + x1]!;
    const d = data[o + y1 * width + x0]!;
    const e = data[o + y1 * width + x1]!;
    const top = a + (b - a) * fx;
    const bottom = d + (e - d) * fx;
    out[c] = top + (bottom - top) * fy;
  }
}

async function landmarksOf(net: ort.InferenceSession, img: Tile, box: FaceBox): Promise<Point[]> {
  // face-api pads the crop to a square, centred, then resizes it to 112².
  const side = Math.max(box.width, box.height);
  const ox = box.x - (side - box.width) / 2;
  const oy = box.y - (side - box.height) / 2;
  const input = sampleSquare(img, ox, oy, side, LANDMARK_INPUT, LANDMARK_MEAN_RGB, {
    x0: box.x,
    y0: box.y,
    x1: box.x + box.width,
    y1: box.y + box.height,
  });
  const out = await net.run({
    input: new ort.Tensor('float32', input, [1, 3, LANDMARK_INPUT, LANDMARK_INPUT]),
  });
  const v = out.output!.data as Float32Array;
  const pts: Point[] = [];
  for (let i = 0; i < 68; i++) pts.push([ox + v[2 * i]! * side, oy + v[2 * i + 1]! * side]);
  return pts;
}

const mean = (pts: readonly Point[]): Point => [
  pts.reduce((a, p) => a + p[0], 0) / pts.length,
  pts.reduce((a, p) => a + p[1], 0) / pts.length,
];

/** The 5 alignment points from the 68 (iBUG numbering): eye centres, nose tip, mouth corners. */
export function fivePoints(lm: readonly Point[]): Point[] {
  return [mean(lm.slice(36, 42)), mean(lm.slice(42, 48)), lm[30]!, lm[48]!, lm[54]!];
}
