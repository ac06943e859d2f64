import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { detectFaces, fivePoints, loadFaceNets } from '../../../src/engine/faces/detect.js';
import { DETECTOR_MEAN_RGB, LANDMARK_MEAN_RGB } from '../../../src/models/import/face-api.js';
import {
  referenceDetectorOutput,
  referenceFaces,
  referenceLandmarkOutput,
} from '../../helpers/face-api-reference.js';
import { repoPath } from '../../helpers/paths.js';
import { seededRandom } from '../../helpers/random.js';

const ASTRONAUT = repoPath('test/fixtures/faces/astronaut-256.png');

function randomPixels(size: number, seed: number): Float32Array {
  const rnd = seededRandom(seed);
  return Float32Array.from({ length: size * size * 3 }, () => Math.round(rnd() * 255));
}

/** HWC 0..255 → NCHW (v − mean) / 255, face-api's normalisation, done here independently. */
function normalised(hwc: Float32Array, size: number, mean: readonly number[]): Float32Array {
  const out = new Float32Array(hwc.length);
  for (let i = 0; i < size * size; i++)
    for (let c = 0; c < 3; c++) out[c * size * size + i] = (hwc[i * 3 + c]! - mean[c]!) / 255;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function astronaut(): Promise<{
  rgb: Uint8Array;
  planar: Float32Array;
  width: number;
  height: number;
}> {
  const { data, info } = await sharp(ASTRONAUT).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const planar = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[i * 3 + c]! / 255;
  return { rgb: new Uint8Array(data), planar, width: info.width, height: info.height };
}

describe('face detection (face-api tiny detector + 68-point landmarks, converted to ONNX)', () => {
  it('the converted detector gives face-api’s own output on random pixels (within 1e-3)', async () => {
    const hwc = randomPixels(416, 15);
    const ref = await referenceDetectorOutput(hwc);
    const nets = await loadFaceNets();
    const out = await nets.detector.run({
      input: new ort.Tensor('float32', normalised(hwc, 416, DETECTOR_MEAN_RGB), [1, 3, 416, 416]),
    });
    const nchw = out.output!.data as Float32Array;
    assert.deepEqual(out.output!.dims, [1, 25, 13, 13]);
    // NCHW → NHWC to compare with TF.js.
    const nhwc = new Float32Array(nchw.length);
    for (let c = 0; c < 25; c++) for (let i = 0; i < 169; i++) nhwc[i * 25 + c] = nchw[c * 169 + i]!;
    const diff = maxAbsDiff(nhwc, ref);
    assert.ok(diff < 1e-3, `max |onnx − face-api| = ${diff}`);
  });

  it('the converted landmark net gives face-api’s own output on random pixels (within 1e-4)', async () => {
    const hwc = randomPixels(112, 68);
    const ref = await referenceLandmarkOutput(hwc);
    const nets = await loadFaceNets();
    const out = await nets.landmarks.run({
      input: new ort.Tensor('float32', normalised(hwc, 112, LANDMARK_MEAN_RGB), [1, 3, 112, 112]),
    });
    const diff = maxAbsDiff(out.output!.data as Float32Array, ref);
    assert.ok(diff < 1e-4, `max |onnx − face-api| = ${diff}`);
  });

  it('finds the one face in the NASA astronaut photo, box within 0.5 px and 5 landmarks within 1.5 px of face-api', async () => {
    const img = await astronaut();
    const [ref, ...others] = await referenceFaces(img.rgb, img.width, img.height);
    assert.ok(ref && others.length === 0, 'face-api finds exactly one face');
    const faces = await detectFaces({ data: img.planar, width: img.width, height: img.height });
    assert.equal(faces.length, 1);
    const face = faces[0]!;
    for (const k of ['x', 'y', 'width', 'height'] as const) {
      assert.ok(Math.abs(face.box[k] - ref.box[k]) < 0.5, `${k}: ${face.box[k]} vs ${ref.box[k]}`);
    }
    assert.ok(Math.abs(face.score - ref.score) < 1e-3);
    // Hand-checked on the image: eyes near (98..106, 50) and (119..127, 51), mouth at y ≈ 70.
    const refFive = fivePoints(ref.landmarks68);
    for (const [i, p] of face.landmarks.entries()) {
      const d = Math.hypot(p[0] - refFive[i]![0], p[1] - refFive[i]![1]);
      assert.ok(d < 1.5, `landmark ${i}: (${p}) vs face-api (${refFive[i]}), ${d.toFixed(2)} px`);
    }
    const [le, re, nose, ml, mr] = face.landmarks as [number, number][];
    assert.ok(le![0] < nose![0] && nose![0] < re![0], 'nose between the eyes');
    assert.ok(le![1] < nose![1] && nose![1] < ml![1] && nose![1] < mr![1], 'eyes above nose above mouth');
  });

  it('finds the face when the photo is 4× larger (windows over a 1024 px image) at the same place', async () => {
    const img = await astronaut();
    const big = await sharp(ASTRONAUT)
      .resize(1024, 1024, { kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer();
    const n = 1024 * 1024;
    const planar = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = big[i * 3 + c]! / 255;
    const [small] = await detectFaces({ data: img.planar, width: img.width, height: img.height });
    const faces = await detectFaces({ data: planar, width: 1024, height: 1024 });
    assert.equal(faces.length, 1, JSON.stringify(faces.map((f) => f.box)));
    for (const [i, p] of faces[0]!.landmarks.entries()) {
      const q = small!.landmarks[i]!;
      const d = Math.hypot(p[0] / 4 - q[0], p[1] / 4 - q[1]);
      assert.ok(d < 2, `landmark ${i} at 1024 px: ${d.toFixed(2)} px (256 px scale) from the 256 px result`);
    }
  });

  it('finds a 24 px face: the photo shrunk so the face is ~24 px, pasted into a 1000×1000 grey frame', async () => {
    const small = await sharp(ASTRONAUT)
      .resize(110, 110, { kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer();
    const W = 1000;
    const planar = new Float32Array(3 * W * W).fill(0.5);
    const [ox, oy] = [600, 700];
    for (let y = 0; y < 110; y++)
      for (let x = 0; x < 110; x++)
        for (let c = 0; c < 3; c++)
          planar[c * W * W + (oy + y) * W + ox + x] = small[(y * 110 + x) * 3 + c]! / 255;
    const faces = await detectFaces({ data: planar, width: W, height: W });
    assert.equal(faces.length, 1, JSON.stringify(faces.map((f) => [f.box, f.score])));
    const b = faces[0]!.box;
    // The face spans about x 35..60, y 16..41 of the 110 px paste.
    assert.ok(b.width > 18 && b.width < 36, `width ${b.width}`);
    assert.ok(
      Math.abs(b.x + b.width / 2 - (ox + 47)) < 8 && Math.abs(b.y + b.height / 2 - (oy + 28)) < 8,
      JSON.stringify(b),
    );
  });

  it('finds no face in random noise', async () => {
    const rnd = seededRandom(3);
    const planar = Float32Array.from({ length: 3 * 300 * 200 }, () => rnd());
    assert.deepEqual(await detectFaces({ data: planar, width: 300, height: 200 }), []);
  });
});
