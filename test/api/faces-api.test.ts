/**
 * The native API's `face` option on the real server: a job with faces on reports the faces it
 * found on `result.faces` and, with no face model installed, says what it did instead; bad face
 * options are a 400 naming the field, before any work.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { repoPath } from '../helpers/paths.js';
import { dataUri, startTestService, type TestService } from '../helpers/service.js';

let svc: TestService;
before(async () => {
  svc = await startTestService();
});
after(() => svc.close(1000));

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;

const astronaut = () => dataUri(fs.readFileSync(repoPath('test/fixtures/faces/astronaut-256.png')));

test('POST /v1/upscale with face.enabled: result.faces holds the astronaut’s face and the warning names the fallback', async () => {
  const res = await svc.call('/v1/upscale', {
    method: 'POST',
    headers: { prefer: 'wait=120' },
    json: { image: astronaut(), model: 'lanczos3', scale: 1.5, face: { enabled: true, strength: 0.8 } },
  });
  const job = (await res.json()) as Json;
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.equal(job.result.faces.length, 1);
  const [face] = job.result.faces;
  assert.ok(Math.abs(face.box.x - 81.2) < 1 && Math.abs(face.box.width - 57.7) < 1, JSON.stringify(face.box));
  assert.equal(face.landmarks.length, 5);
  assert.ok(
    job.warnings.some((w: string) =>
      /No face model is installed: 1 face was upscaled with the faithful model rrdn-thick/.test(w),
    ),
    job.warnings.join('\n'),
  );
});

test('BAD CALL - face.strength 2, an unknown face field, or a non-face face.model is a 400 naming the field', async () => {
  const post = (face: object) =>
    svc.call('/v1/upscale', { method: 'POST', json: { image: astronaut(), model: 'lanczos3', face } });
  const strong = await post({ enabled: true, strength: 2 });
  assert.equal(strong.status, 400);
  assert.match(JSON.stringify(await strong.json()), /strength/);
  const unknown = await post({ enabled: true, colour: 'red' });
  assert.equal(unknown.status, 400);
  const notFace = await post({ enabled: true, model: 'lanczos3' });
  assert.equal(notFace.status, 400);
  const body = (await notFace.json()) as Json;
  assert.equal(body.error.code, 'invalid_argument');
  assert.equal(body.error.param, 'face.model');
});
