import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InterpolatedProgress, interpolate } from '../../src/workers/progress.js';

const RUN = { from: 0.2, to: 0.6, expectedMs: 4000 };

test('an estimated run moves linearly to 90 % of its span by its expected end, then ever more slowly', () => {
  assert.equal(interpolate(RUN, 0), 0.2);
  assert.equal(interpolate(RUN, -50), 0.2, 'no earlier than the start');
  assert.ok(Math.abs(interpolate(RUN, 2000) - (0.2 + 0.4 * 0.45)) < 1e-12);
  assert.ok(Math.abs(interpolate(RUN, 4000) - (0.2 + 0.4 * 0.9)) < 1e-12);
  assert.ok(Math.abs(interpolate(RUN, 8000) - (0.2 + 0.4 * 0.99)) < 1e-12);
});

test('an estimated run grows with time and never reaches its end, however late the run is', () => {
  let last = -1;
  for (let ms = 0; ms <= 400_000; ms += 250) {
    const f = interpolate(RUN, ms);
    assert.ok(f > last, `${ms} ms: ${f} after ${last}`);
    assert.ok(f < RUN.to, `${ms} ms: ${f} reached the run's end`);
    last = f;
  }
  assert.ok(interpolate(RUN, 1e12) < RUN.to);
});

/** An InterpolatedProgress on a clock the test moves; the real timer never fires. */
function tracked() {
  let now = 0;
  const shown: number[] = [];
  const p = new InterpolatedProgress(
    (f) => shown.push(f),
    () => now,
    1e9,
  );
  return {
    p,
    shown,
    at(ms: number) {
      now = ms;
      p.tick();
    },
  };
}

test('between the real reports, ticks move progress toward the run end; the real report ends the estimate', () => {
  const { p, shown, at } = tracked();
  try {
    p.estimate({ from: 0, to: 0.5, expectedMs: 1000 });
    for (const ms of [250, 500, 750, 1000, 2000]) at(ms);
    assert.equal(shown.length, 5, 'from 0 is nothing new; each tick is');
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i]! > shown[i - 1]!, `${shown}`);
    assert.ok(shown.at(-1)! < 0.5, 'the estimate stays short of the run end');
    p.report(0.5);
    assert.equal(shown.at(-1), 0.5, 'the real report is passed on');
    at(3000);
    assert.equal(shown.at(-1), 0.5, 'no estimate after the report');
    assert.equal(shown.length, 6);
  } finally {
    p.stop();
  }
});

test('progress never goes backwards: a report or a run start below what was shown is held back', () => {
  const { p, shown, at } = tracked();
  try {
    p.estimate({ from: 0.1, to: 0.9, expectedMs: 1000 });
    at(1000);
    const high = shown.at(-1)!;
    assert.ok(high > 0.7);
    p.report(0.5); // a child's report below the estimate (an estimate that ran ahead)
    p.estimate({ from: 0.5, to: 0.6, expectedMs: 1000 });
    at(1500);
    assert.equal(shown.at(-1), high);
    p.report(1);
    assert.equal(shown.at(-1), 1, 'the end always shows');
    assert.deepEqual(
      shown.filter((f, i) => i > 0 && f <= shown[i - 1]!),
      [],
      'strictly increasing',
    );
  } finally {
    p.stop();
  }
});

test('after stop() (the job settled) nothing more is shown', () => {
  const { p, shown, at } = tracked();
  p.estimate({ from: 0.25, to: 1, expectedMs: 1000 });
  p.stop();
  at(500);
  p.report(1);
  p.estimate({ from: 0.5, to: 1, expectedMs: 1000 });
  assert.deepEqual(shown, [0.25]);
});

test('the timer ticks an estimate on by itself', async () => {
  const shown: number[] = [];
  const p = new InterpolatedProgress(
    (f) => shown.push(f),
    () => performance.now(),
    20,
  );
  p.estimate({ from: 0, to: 1, expectedMs: 1000 });
  await new Promise((r) => setTimeout(r, 150));
  p.stop();
  assert.ok(shown.length >= 3, `${shown.length} values in 150 ms at 20 ms ticks`);
  assert.ok(shown.every((f) => f > 0 && f < 1));
});
