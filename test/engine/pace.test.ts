import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANNOUNCE_MS, pace, type RunEstimate, RunRates } from '../../src/engine/pace.js';

const MACS = 1e11;

test('a run is expected to take as long as the last measured one at the same rate, per device and precision', () => {
  const rates = new RunRates();
  const first = rates.expectedMs('cpu', 'fp32', MACS);
  assert.ok(first > 0 && Number.isFinite(first), 'a default before any measurement');
  rates.record('cpu', 'fp32', MACS, 800);
  assert.ok(Math.abs(rates.expectedMs('cpu', 'fp32', MACS) - 800) < 1e-6);
  assert.ok(Math.abs(rates.expectedMs('cpu', 'fp32', 2 * MACS) - 1600) < 1e-6, 'in proportion to the work');
  assert.equal(rates.expectedMs('cpu', 'int8', MACS), first, 'int8 learns on its own');
});

test('the learned rate follows new measurements, and ignores runs too short to measure', () => {
  const rates = new RunRates();
  rates.record('cpu', 'fp32', MACS, 800);
  rates.record('cpu', 'fp32', MACS, 20); // session overhead, not throughput
  assert.ok(Math.abs(rates.expectedMs('cpu', 'fp32', MACS) - 800) < 1e-6);
  rates.record('cpu', 'fp32', MACS, 400); // the machine got faster (less load)
  const now = rates.expectedMs('cpu', 'fp32', MACS);
  assert.ok(now > 400 && now < 800, `${now} ms`);
});

test('pace() announces a long run in job fractions, leaves short ones unannounced, and times both', async () => {
  const rates = new RunRates();
  rates.record('cpu', 'fp32', MACS, 1000);
  const said: RunEstimate[] = [];
  // The second of two passes: the pass's 0..1 is the job's 0.5..1.
  const paced = pace(
    rates,
    'cpu',
    'fp32',
    (e) => said.push(e),
    (f) => (1 + f) / 2,
  );
  const out = await paced({ macs: MACS, from: 0.2, to: 0.6 }, async () => 'ran');
  assert.equal(out, 'ran');
  assert.deepEqual(said, [{ from: 0.6, to: 0.8, expectedMs: 1000 }]);
  await paced({ macs: (MACS * (ANNOUNCE_MS / 2)) / 1000, from: 0.6, to: 0.7 }, async () => undefined);
  assert.equal(said.length, 1, 'a run expected to take ANNOUNCE_MS / 2 is not announced');
  // A run of MACS that took ~150 ms teaches the rate (was 1000 ms for MACS).
  await paced({ macs: MACS, from: 0.7, to: 0.8 }, () => new Promise((r) => setTimeout(r, 150)));
  assert.ok(rates.expectedMs('cpu', 'fp32', MACS) < 700, 'the timed run was recorded');
});
