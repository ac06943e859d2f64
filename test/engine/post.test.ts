import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { checkKnobs, denoise, fixCompression, sharpen } from '../../src/engine/post.js';
import { isPixeliftError } from '../../src/errors.js';
import type { Tile } from '../../src/models/runner.js';
import { repoPath } from '../helpers/paths.js';
import { seededRandom } from '../helpers/random.js';

const PHOTO = repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png');

async function photo(jpegQuality?: number): Promise<Tile> {
  let img = sharp(PHOTO).removeAlpha();
  if (jpegQuality) img = sharp(await img.jpeg({ quality: jpegQuality }).toBuffer());
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = data[3 * i + c]! / 255;
  return { data: out, width: info.width, height: info.height };
}

/** A grey field with a vertical step edge in the middle plus seeded noise (sigma 0.05). */
function noisyEdge(): Tile {
  const w = 64;
  const h = 64;
  const rand = seededRandom(7);
  const data = new Float32Array(3 * w * h);
  for (let i = 0; i < data.length; i++) {
    const x = i % w;
    const noise = (rand() + rand() + rand() - 1.5) * 0.1;
    data[i] = (x < 32 ? 0.3 : 0.7) + noise;
  }
  return { data, width: w, height: h };
}

const std = (t: Tile, x0: number, x1: number) => {
  const vals: number[] = [];
  for (let y = 8; y < t.height - 8; y++) for (let x = x0; x < x1; x++) vals.push(t.data[y * t.width + x]!);
  const m = vals.reduce((a, b) => a + b, 0) / vals.length;
  return Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length);
};

const edgeStep = (t: Tile) => {
  let s = 0;
  for (let y = 8; y < t.height - 8; y++) s += t.data[y * t.width + 36]! - t.data[y * t.width + 27]!;
  return s / (t.height - 16);
};

/** Mean |difference| across 8x8 block boundaries minus the same inside blocks (JPEG blockiness). */
function blockiness(t: Tile): number {
  let across = 0;
  let inside = 0;
  let na = 0;
  let ni = 0;
  for (let y = 0; y < t.height; y++) {
    for (let x = 1; x < t.width; x++) {
      const d = Math.abs(t.data[y * t.width + x]! - t.data[y * t.width + x - 1]!);
      if (x % 8 === 0) {
        across += d;
        na++;
      } else {
        inside += d;
        ni++;
      }
    }
  }
  return across / na - inside / ni;
}

function gradient(t: Tile): number {
  let g = 0;
  for (let y = 1; y < t.height - 1; y++) {
    for (let x = 1; x < t.width - 1; x++) {
      const i = y * t.width + x;
      g += Math.hypot(t.data[i + 1]! - t.data[i - 1]!, t.data[i + t.width]! - t.data[i - t.width]!);
    }
  }
  return g / ((t.width - 2) * (t.height - 2));
}

test('denoise 0 is the identity; stronger denoise leaves less noise and keeps the edge', () => {
  const img = noisyEdge();
  assert.equal(denoise(img, 0), img);
  const half = denoise(img, 0.5);
  const full = denoise(img, 1);
  const [s0, s5, s1] = [img, half, full].map((t) => std(t, 4, 24)) as [number, number, number];
  assert.ok(s5 < s0 * 0.8 && s1 < s5, `noise ${s0} → ${s5} → ${s1}`);
  assert.ok(edgeStep(full) > 0.8 * edgeStep(img), `edge ${edgeStep(img)} → ${edgeStep(full)}`);
});

test('fix_compression 0 is the identity; stronger settings leave less 8x8 blockiness in a JPEG at quality 10', async () => {
  const jpeg = await photo(10);
  assert.equal(fixCompression(jpeg, 0), jpeg);
  const b0 = blockiness(jpeg);
  const b5 = blockiness(fixCompression(jpeg, 0.5));
  const b1 = blockiness(fixCompression(jpeg, 1));
  assert.ok(b0 > 0.003, `the fixture is blocky: ${b0}`);
  assert.ok(b5 < b0 && b1 < b5, `blockiness ${b0} → ${b5} → ${b1}`);
});

test('sharpen 0 is the identity; stronger sharpening raises the mean gradient of a photo', async () => {
  const img = await photo();
  assert.equal(sharpen(img, 0), img);
  const [g0, g5, g1] = [img, sharpen(img, 0.5), sharpen(img, 1)].map(gradient) as [number, number, number];
  assert.ok(g5 > g0 * 1.1 && g1 > g5, `gradient ${g0} → ${g5} → ${g1}`);
});

test('BAD CALL - a knob outside 0..1 is an invalid_argument naming it', () => {
  assert.throws(
    () => checkKnobs({ sharpen: 1.5 }),
    (e: unknown) => isPixeliftError(e, 'invalid_argument') && e.details.param === 'sharpen',
  );
  assert.throws(
    () => checkKnobs({ denoise: -0.1 }),
    (e: unknown) => isPixeliftError(e, 'invalid_argument'),
  );
  checkKnobs({ denoise: 0, fix_compression: 1, sharpen: 0.5 });
});
