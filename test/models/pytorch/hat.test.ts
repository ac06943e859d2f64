/**
 * HAT against PyTorch: tiny random-weight models (scripts/pytorch-fixtures/hat.py) with
 * overlap ratios 0.5 and 0.25, windows 4 and 8, '1conv' and identity residuals, ×2/×3/×4.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hat, overlapPositionIndex } from '../../../src/models/pytorch/arch/hat.js';
import { loadStateDict, referenceCases, verifyAgainstPyTorch } from './reference.js';

verifyAgainstPyTorch('hat.json', hat);

test('does not claim SwinIR state dicts, which lack the CAB and overlapping attention', () => {
  for (const c of referenceCases('swinir.json')) assert.equal(hat.detect(loadStateDict(c)), undefined);
});

test('the overlapping-window position index equals the one the reference stored (relative_position_index_OCA)', () => {
  for (const c of referenceCases('hat.json')) {
    const stored = loadStateDict(c).get('relative_position_index_OCA')!;
    const ws = c.params.windowSize as number;
    const ows = c.params.overlapWindowSize as number;
    assert.deepEqual([...overlapPositionIndex(ws, ows)], [...stored.data]);
  }
});
