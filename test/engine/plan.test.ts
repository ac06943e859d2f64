import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plan, planPasses } from '../../src/engine/plan.js';
import { isPixeliftError } from '../../src/errors.js';
import { BUILTIN_MODELS } from '../../src/models/catalog.js';

const model = (id: string) => BUILTIN_MODELS.find((m) => m.id === id)!;
const x4 = model('realesrgan-x4fast');
const rrdn = model('rrdn-thick');
const input = { width: 300, height: 200 };
const cap = 128;

test('passes: the smallest native scale that covers the factor, repeated when none does', () => {
  assert.deepEqual(planPasses([4], 4), [4]);
  assert.deepEqual(planPasses([4], 3), [4], '3x = 4x then resample down');
  assert.deepEqual(planPasses([4], 8), [4, 4]);
  assert.deepEqual(planPasses([2, 3, 4, 8], 8), [8]);
  assert.deepEqual(planPasses([2, 3, 4, 8], 3), [3]);
  assert.deepEqual(planPasses([2, 3, 4, 8], 16), [8, 2]);
  assert.deepEqual(planPasses([2, 3, 4, 8], 1.5), [2]);
  assert.deepEqual(planPasses([4], 1), [], 'scale 1 runs no network');
  assert.deepEqual(planPasses([4], 2.9995), [4], 'size rounding does not add a pass');
});

test('a float scale gives the rounded exact size; classical models run no network pass', () => {
  const p = plan({ input, scale: 2.5, maxOutputMegapixels: cap }, x4);
  assert.deepEqual(p.output, { width: 750, height: 500 });
  assert.deepEqual(p.passes, [4]);
  assert.deepEqual(p.networkOutput, { width: 1200, height: 800 });
  assert.equal(p.crop, undefined);
  assert.deepEqual(plan({ input, scale: 2.5, maxOutputMegapixels: cap }, model('lanczos3')).passes, []);
  assert.deepEqual(
    plan({ input, maxOutputMegapixels: cap }, rrdn).output,
    { width: 1200, height: 800 },
    'default 4x',
  );
});

test('width and height with fit: contain fits inside, cover fills and crops the centre, fill stretches', () => {
  const contain = plan({ input, width: 900, height: 900, fit: 'contain', maxOutputMegapixels: cap }, x4);
  assert.deepEqual(contain.output, { width: 900, height: 600 });
  const cover = plan({ input, width: 900, height: 900, fit: 'cover', maxOutputMegapixels: cap }, x4);
  assert.deepEqual(cover.resized, { width: 1350, height: 900 });
  assert.deepEqual(cover.crop, { left: 225, top: 0, width: 900, height: 900 });
  assert.deepEqual(cover.output, { width: 900, height: 900 });
  const fill = plan({ input, width: 900, height: 900, fit: 'fill', maxOutputMegapixels: cap }, x4);
  assert.deepEqual(fill.output, { width: 900, height: 900 });
  assert.deepEqual(fill.passes, [4, 4], 'stretching 200 px to 900 px needs 4.5x: two 4x passes, then down');
  const widthOnly = plan({ input, width: 450, maxOutputMegapixels: cap }, rrdn);
  assert.deepEqual(widthOnly.output, { width: 450, height: 300 });
  assert.deepEqual(widthOnly.passes, [2]);
});

test('an output over the cap is rejected by default, before any decoding', () => {
  assert.throws(
    () => plan({ input, scale: 16, maxOutputMegapixels: 1 }, x4),
    (e: unknown) =>
      isPixeliftError(e, 'output_too_large') &&
      /4800x3200 \(15\.4 MP\), above the limit of 1 MP/.test(e.message),
  );
});

test('downscale_input shrinks the input so the output fits the cap, and says so with the real sizes', () => {
  const p = plan(
    {
      input: { width: 2000, height: 1000 },
      scale: 4,
      oversize: 'downscale_input',
      maxOutputMegapixels: 16.777216,
    },
    x4,
  );
  assert.ok(p.output.width * p.output.height <= 16_777_216);
  assert.ok(p.output.width * p.output.height > 16_000_000, 'uses nearly all of the cap');
  assert.deepEqual(p.output, { width: p.networkInput.width * 4, height: p.networkInput.height * 4 });
  assert.ok(p.networkInput.width < 2000);
  assert.match(p.warnings[0]!, /input was downscaled from 2000x1000 to \d+x\d+ and the output is \d+x\d+/);
});

for (const [what, req] of [
  ['scale 0.5', { scale: 0.5 }],
  ['scale 17', { scale: 17 }],
  ['scale NaN', { scale: Number.NaN }],
  ['scale with width', { scale: 2, width: 100 }],
  ['width 0', { width: 0 }],
  ['width 1.5', { width: 1.5 }],
  ['fit "stretch"', { width: 10, height: 10, fit: 'stretch' }],
  ['width over 16x', { width: 300 * 17 }],
] as const) {
  test(`BAD CALL - ${what} is an invalid_argument naming the parameter`, () => {
    assert.throws(
      () => plan({ input, maxOutputMegapixels: 1000, ...(req as object) }, x4),
      (e: unknown) => isPixeliftError(e, 'invalid_argument'),
    );
  });
}
