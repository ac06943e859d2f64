/**
 * The Replicate models' input → job translation, field by field where it is arithmetic (the
 * SDK suite shows the jobs run; this shows the numbers they get).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPLICATE_MODELS } from '../../../src/api/compat/replicate-models.js';

const model = (name: string) => REPLICATE_MODELS.find((m) => m.name === name)!;

test('replicate models: codeformer_fidelity w becomes the face pass creativity 1 − w', () => {
  const t = model('sczhou/codeformer').translate({ image: 'x', upscale: 2, codeformer_fidelity: 0.7 });
  assert.equal(t.knobs?.face?.enabled, true);
  assert.ok(Math.abs(t.knobs!.face!.creativity! - 0.3) < 1e-9, String(t.knobs?.face?.creativity));
  assert.equal(model('sczhou/codeformer').translate({ codeformer_fidelity: 1 }).knobs?.face?.creativity, 0);
  assert.deepEqual(t.warnings, []);
});

test('replicate models: face_enhance and tencentarc/gfpgan ask for the face pass; face_enhance false does not', () => {
  const esrgan = model('nightmareai/real-esrgan');
  assert.deepEqual(esrgan.translate({ scale: 4, face_enhance: true }).knobs?.face, { enabled: true });
  assert.equal(esrgan.translate({ scale: 4, face_enhance: false }).knobs?.face, undefined);
  assert.deepEqual(model('tencentarc/gfpgan').translate({ scale: 2, version: 'v1.4' }).knobs?.face, {
    enabled: true,
  });
});
