import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cubic, lanczos3, resample } from '../../src/engine/resample.js';

test('both kernels are 1 at 0 and 0 at the other integers, so they interpolate', () => {
  for (const f of [lanczos3, cubic]) {
    assert.equal(f(0), 1);
    for (const k of [1, 2, -1, -2, 3]) assert.ok(Math.abs(f(k)) < 1e-12, `${f.name}(${k})`);
  }
  assert.ok(lanczos3(2.5) !== 0 && cubic(2.5) === 0, 'lanczos3 reaches 3 px, cubic 2 px');
});

test('a 3x enlargement passes through the original samples exactly (pixel centres align)', () => {
  const src = Float32Array.from({ length: 3 * 7 * 5 }, (_, i) => ((i * 37) % 11) / 10);
  for (const k of ['lanczos3', 'cubic'] as const) {
    const out = resample(src, 3, 7, 5, 21, 15, k);
    for (let p = 0; p < 3; p++) {
      for (let y = 0; y < 5; y++) {
        for (let x = 0; x < 7; x++) {
          const got = out[p * 21 * 15 + (3 * y + 1) * 21 + (3 * x + 1)]!;
          assert.ok(Math.abs(got - src[p * 35 + y * 7 + x]!) < 1e-5, `${k} p${p} (${x},${y})`);
        }
      }
    }
  }
});

test('lanczos3 and bicubic are different resamplers: lanczos3 reconstructs a band-limited signal better', () => {
  // A sum of sinusoids below Nyquist, sampled at 64 points, enlarged 4x; compare with the true signal.
  const f = (t: number) => 0.5 + 0.2 * Math.sin(0.9 * t) + 0.15 * Math.cos(2.1 * t + 0.3);
  const n = 64;
  const src = new Float32Array(3 * n);
  for (let p = 0; p < 3; p++) for (let x = 0; x < n; x++) src[p * n + x] = f(x);
  const err = (k: 'lanczos3' | 'cubic') => {
    const out = resample(src, 3, n, 1, 4 * n, 1, k);
    let e = 0;
    let count = 0;
    for (let x = 16; x < 4 * n - 16; x++) {
      const t = (x + 0.5) / 4 - 0.5;
      e += (out[x]! - f(t)) ** 2;
      count++;
    }
    return Math.sqrt(e / count);
  };
  const l = err('lanczos3');
  const c = err('cubic');
  assert.ok(l < c * 0.7, `lanczos3 RMS ${l} should be well below bicubic ${c}`);
});

test('reduction is antialiased: a pixel-level checkerboard halves to flat grey, a constant stays constant', () => {
  const w = 16;
  const board = Float32Array.from({ length: 3 * w * w }, (_, i) => ((i % w) + Math.floor(i / w)) % 2);
  const out = resample(board, 3, w, w, 8, 8, 'lanczos3');
  for (let i = 8 * 2 + 2; i < 8 * 6; i++) assert.ok(Math.abs(out[i]! - 0.5) < 0.05, `pixel ${i}: ${out[i]}`);
  const flat = resample(new Float32Array(3 * 10 * 10).fill(0.3), 3, 10, 10, 23, 17, 'cubic');
  for (const v of flat) assert.ok(Math.abs(v - 0.3) < 1e-6);
});

test('BAD CALL - data that does not match the stated size is a RangeError', () => {
  assert.throws(() => resample(new Float32Array(10), 3, 2, 2, 4, 4, 'cubic'), RangeError);
});
