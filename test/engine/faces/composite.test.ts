import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { FFHQ_TEMPLATE_512, similarity } from '../../../src/engine/faces/align.js';
import { detectFaces, type Point } from '../../../src/engine/faces/detect.js';
import { onnxRestorer, restoreFaces } from '../../../src/engine/faces/pass.js';
import { upscaleImage } from '../../../src/engine/pipeline.js';
import { isPixeliftError } from '../../../src/errors.js';
import type { Tile } from '../../../src/models/runner.js';
import { fidelityRestorer, installFaceModel, negativeRestorer } from '../../helpers/face-fixtures.js';
import { testStore } from '../../helpers/models.js';
import { repoPath } from '../../helpers/paths.js';

const ASTRONAUT = repoPath('test/fixtures/faces/astronaut-256.png');

async function planar(file: string | Buffer): Promise<Tile> {
  const sixteen = (await sharp(file).metadata()).depth === 'ushort';
  const { data, info } = await sharp(file)
    .removeAlpha()
    .toColourspace(sixteen ? 'rgb16' : 'srgb')
    .raw(sixteen ? { depth: 'ushort' } : {})
    .toBuffer({ resolveWithObject: true });
  const px = sixteen ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : data;
  const n = info.width * info.height;
  const out = new Float32Array(3 * n);
  const max = sixteen ? 65535 : 255;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = px[i * 3 + c]! / max;
  return { data: out, width: info.width, height: info.height };
}

// ---- The reference maths, written independently of src/engine/faces -----------------------

/** Similarity by solving the 4×4 normal equations of [x −y 1 0; y x 0 1]·[a b tx ty] = [u v]. */
function refSimilarity(src: readonly Point[], dst: readonly Point[]): number[] {
  const A: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < src.length; i++) {
    A.push([src[i]![0], -src[i]![1], 1, 0]);
    y.push(dst[i]![0]);
    A.push([src[i]![1], src[i]![0], 0, 1]);
    y.push(dst[i]![1]);
  }
  const M = [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((c) => A.reduce((s, row) => s + row[r]! * row[c]!, 0)));
  const v = [0, 1, 2, 3].map((r) => A.reduce((s, row, k) => s + row[r]! * y[k]!, 0));
  // Gauss-Jordan.
  for (let i = 0; i < 4; i++) {
    const p = M[i]![i]!;
    for (let j = 0; j < 4; j++) M[i]![j]! /= p;
    v[i]! /= p;
    for (let k = 0; k < 4; k++) {
      if (k === i) continue;
      const f = M[k]![i]!;
      for (let j = 0; j < 4; j++) M[k]![j]! -= f * M[i]![j]!;
      v[k]! -= f * v[i]!;
    }
  }
  return v; // a, b, tx, ty
}

function sample(img: Tile, x: number, y: number, c: number): number {
  const cx = Math.min(img.width - 1, Math.max(0, x));
  const cy = Math.min(img.height - 1, Math.max(0, y));
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(img.width - 1, x0 + 1);
  const y1 = Math.min(img.height - 1, y0 + 1);
  const at = (xx: number, yy: number) => img.data[c * img.width * img.height + yy * img.width + xx]!;
  const fx = cx - x0;
  const fy = cy - y0;
  return (
    (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x1, y0)) + fy * ((1 - fx) * at(x0, y1) + fx * at(x1, y1))
  );
}

/** The documented mask: 0 within 16 px of the 512² border, rising linearly to 1 at 64 px. */
const refMask = (u: number, v: number) =>
  Math.min(1, Math.max(0, (Math.min(u, v, 511 - u, 511 - v) - 16) / 48));

/** Composite for `restore` (a per-pixel function of the aligned face) applied to one face. */
function refComposite(
  img: Tile,
  lm: readonly Point[],
  restore: (v: number) => number,
  strength: number,
): Tile {
  const [a, b, tx, ty] = refSimilarity(lm, FFHQ_TEMPLATE_512) as [number, number, number, number];
  const d = a * a + b * b;
  const toImg = (u: number, v: number) => [
    (a * (u - tx) + b * (v - ty)) / d,
    (-b * (u - tx) + a * (v - ty)) / d,
  ];
  const aligned: Tile = { data: new Float32Array(3 * 512 * 512), width: 512, height: 512 };
  for (let v = 0; v < 512; v++)
    for (let u = 0; u < 512; u++) {
      const [x, y] = toImg(u, v) as [number, number];
      for (let c = 0; c < 3; c++) aligned.data[c * 512 * 512 + v * 512 + u] = restore(sample(img, x, y, c));
    }
  const out = Float32Array.from(img.data);
  const n = img.width * img.height;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      const u = a * x - b * y + tx;
      const v = b * x + a * y + ty;
      const m = refMask(u, v) * strength;
      if (m === 0) continue;
      for (let c = 0; c < 3; c++) {
        const o = img.data[c * n + y * img.width + x]!;
        out[c * n + y * img.width + x] = o + m * (sample(aligned, u, v, c) - o);
      }
    }
  return { data: out, width: img.width, height: img.height };
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// -------------------------------------------------------------------------------------------

describe('face pass', () => {
  it('similarity: recovers a known rotation + scale + shift from 5 points exactly', () => {
    const [a, b, tx, ty] = [0.9 * Math.cos(0.3), 0.9 * Math.sin(0.3), 12.5, -7];
    const src: Point[] = [
      [10, 20],
      [60, 22],
      [35, 50],
      [15, 75],
      [58, 77],
    ];
    const dst = src.map(([x, y]) => [a * x - b * y + tx, b * x + a * y + ty] as const);
    const t = similarity(src, dst);
    for (const [k, want] of Object.entries({ a, b, tx, ty })) {
      assert.ok(Math.abs(t[k as 'a'] - want) < 1e-9, `${k}: ${t[k as 'a']} vs ${want}`);
    }
  });

  it('with a fixture restorer (1 − x), the astronaut’s face is exactly the composite the reference maths gives', async () => {
    const img = await planar(ASTRONAUT);
    const [face] = await detectFaces(img);
    assert.ok(face);
    const session = await ort.InferenceSession.create(negativeRestorer());
    const ours = { ...img, data: Float32Array.from(img.data) };
    await restoreFaces(ours, [face.landmarks], onnxRestorer(session), { strength: 0.7, creativity: 0.5 });
    const ref = refComposite(img, face.landmarks, (v) => 1 - v, 0.7);
    const diff = maxDiff(ours.data, ref.data);
    assert.ok(diff < 1e-5, `max |pass − reference| = ${diff}`);
    // And it did something: the face centre moved towards the negative, the corners did not.
    const n = img.width * img.height;
    const nose = Math.round(face.landmarks[2]![1]) * img.width + Math.round(face.landmarks[2]![0]);
    assert.ok(Math.abs(ours.data[nose]! - img.data[nose]!) > 0.05);
    assert.equal(ours.data[0], img.data[0]);
    assert.equal(ours.data[n - 1], img.data[n - 1]);
  });

  it('strength 0 leaves the image untouched, bit for bit', async () => {
    const img = await planar(ASTRONAUT);
    const [face] = await detectFaces(img);
    const session = await ort.InferenceSession.create(negativeRestorer());
    const ours = { ...img, data: Float32Array.from(img.data) };
    await restoreFaces(ours, [face!.landmarks], onnxRestorer(session), { strength: 0, creativity: 0.5 });
    assert.deepEqual(ours.data, img.data);
  });

  it('through upscaleImage: an installed face model restores the face; info.faces reports it; strength 0 = the plain upscale', async () => {
    const store = testStore();
    installFaceModel(path.join(store.dir, 'models'), 'negative-face', negativeRestorer());
    const input = await sharp(ASTRONAUT).toBuffer();
    const opts = { model: 'lanczos3', scale: 2, format: 'png', bitDepth: 16 } as const;
    const plain = await upscaleImage(store, input, opts);
    const none = await upscaleImage(store, input, {
      ...opts,
      face: { enabled: true, model: 'negative-face', strength: 0 },
    });
    assert.ok(plain.data.equals(none.data), 'strength 0 gives the plain upscale, byte for byte');
    const r = await upscaleImage(store, input, {
      ...opts,
      face: { enabled: true, model: 'negative-face', strength: 1 },
    });
    assert.equal(r.info.faces?.length, 1);
    const f = r.info.faces![0]!;
    assert.ok(Math.abs(f.box.x - 81.2) < 1 && Math.abs(f.box.y - 37.5) < 1, JSON.stringify(f.box));
    assert.deepEqual(r.info.warnings, []);
    // Reference: the plain upscale composited with 1 − x at the reported landmarks mapped to 2×.
    const up = await planar(plain.data);
    const lm = f.landmarks.map(([x, y]) => [(x + 0.5) * 2 - 0.5, (y + 0.5) * 2 - 0.5] as const);
    const ref = refComposite(up, lm, (v) => 1 - v, 1);
    const got = await planar(r.data);
    // 16-bit encoding and landmarks reported to 0.01 px: within 2/255.
    assert.ok(maxDiff(got.data, ref.data) < 2 / 255, `max diff ${maxDiff(got.data, ref.data)}`);
  });

  it('creativity maps to the face model’s w = 1 − creativity', async () => {
    const store = testStore();
    installFaceModel(path.join(store.dir, 'models'), 'fidelity-face', fidelityRestorer());
    const input = await sharp(ASTRONAUT).toBuffer();
    const r = await upscaleImage(store, input, {
      model: 'lanczos3',
      scale: 1,
      format: 'png',
      bitDepth: 16,
      face: { enabled: true, model: 'fidelity-face', creativity: 0.3 },
    });
    const got = await planar(r.data);
    const [nx, ny] = r.info.faces![0]!.landmarks[2]!;
    const i = Math.round(ny) * got.width + Math.round(nx);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(got.data[c * got.width * got.height + i]! - 0.7) < 1e-3);
  });

  it('PIXELIFT_FACE_MODEL (the store’s faceModel) is used when the request names none; a face model is refused as the upscaler', async () => {
    const probe = testStore();
    const store = testStore({ modelsDir: path.join(probe.dir, 'models'), faceModel: 'fidelity-face' });
    installFaceModel(path.join(probe.dir, 'models'), 'fidelity-face', fidelityRestorer());
    const input = await sharp(ASTRONAUT).toBuffer();
    const r = await upscaleImage(store, input, {
      model: 'lanczos3',
      scale: 1,
      face: { enabled: true, creativity: 0 },
    });
    assert.deepEqual(r.info.warnings, []);
    const got = await planar(r.data);
    const [nx, ny] = r.info.faces![0]!.landmarks[2]!;
    assert.ok(Math.abs(got.data[Math.round(ny) * got.width + Math.round(nx)]! - 1) < 1 / 255);
    await assert.rejects(
      upscaleImage(store, input, { model: 'fidelity-face' }),
      (e: unknown) => isPixeliftError(e) && e.code === 'invalid_argument',
    );
    await assert.rejects(
      upscaleImage(store, input, { model: 'lanczos3', face: { enabled: true, model: 'lanczos3' } }),
      (e: unknown) => isPixeliftError(e) && e.code === 'invalid_argument',
    );
  });
});
