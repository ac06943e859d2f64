/**
 * Runflow dialect: the docs' own example (Python/Node/cURL all send the same body) replayed
 * against /compat/runflow with only the base URL and image URL changed; the callback verified as
 * a Runflow customer does (hex HMAC-SHA256 of the raw body with the signing secret).
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { after, before, test } from 'node:test';
import { imageHost, type Json, json, receiver, sizeOf, truncated, until } from '../../helpers/compat.js';
import { startTestService, type TestService, testPng } from '../../helpers/service.js';

const KEY = 'rf_live_test_key';
const SECRET = 'runflow-signing-secret-for-tests';
let svc: TestService;
let png: Buffer;

before(async () => {
  png = await testPng(48, 32);
  svc = await startTestService({
    PIXELIFT_API_KEYS: `${KEY},rf_poor_key:0`,
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    PIXELIFT_RUNFLOW_SIGNING_SECRET: SECRET,
  });
});
after(() => svc?.close());

const BASE = '/compat/runflow';
const auth = { Authorization: `Bearer ${KEY}` };

/** Exactly the docs' request body, with the image and callback URLs swapped for loopback ones. */
function docsBody(imageUrl: string, callbackUrl: string) {
  return {
    input: {
      model: 'Standard V2',
      image_url: imageUrl,
      autoprompt: true,
      output_format: 'png',
      upscale_factor: 4,
      face_enhancement: true,
      subject_detection: 'Foreground',
      face_enhancement_strength: 0.8,
      face_enhancement_creativity: 0.1,
    },
    callback_url: callbackUrl,
  };
}

function verify(raw: Buffer, signature: string): boolean {
  const expected = createHmac('sha256', SECRET).update(raw).digest('hex');
  return (
    signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

test('runflow: the docs example runs, is polled to succeeded, and calls back signed', async (t) => {
  const images = await imageHost(t, { '/images/example-output-0.png': png });
  const hook = await receiver(t);
  const res = await svc.call(`${BASE}/v1/models/topaz/upscale/image/runs`, {
    method: 'POST',
    headers: auth,
    json: docsBody(images.url('/images/example-output-0.png'), hook.url),
  });
  assert.equal(res.status, 201);
  const run = await json(res);
  assert.match(run.id, /^job_/);
  assert.ok(['queued', 'running'].includes(run.status), run.status);
  assert.equal(run.output, null);
  // Face enhancement is honoured now (no "not available" warning); subject detection is not.
  assert.ok(!run.warnings.some((w: string) => /face_enhancement/.test(w)), run.warnings.join('\n'));
  assert.ok(run.warnings.some((w: string) => /subject_detection "Foreground"/.test(w)));
  assert.ok(run.warnings.some((w: string) => /autoprompt/.test(w)));

  const done: Json = await until(async () => {
    const r = await json(await svc.call(`${BASE}/v1/runs/${run.id}`, { headers: auth }));
    return r.status === 'succeeded' || r.status === 'failed' ? r : undefined;
  });
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  assert.deepEqual(Object.keys(done.output).sort(), ['nsfw_detected', 'outputs', 'seed', 'timing']);
  assert.equal(done.output.nsfw_detected, null);
  assert.equal(done.output.seed, null);
  assert.equal(typeof done.output.timing.inference_ms, 'number');
  assert.equal(done.output.outputs.length, 1);
  const out = done.output.outputs[0];
  assert.equal(out.type, 'image');
  assert.equal(out.width, 192);
  assert.equal(out.height, 128);
  const file = Buffer.from(await (await fetch(out.url)).arrayBuffer());
  assert.deepEqual(await sizeOf(file), { width: 192, height: 128, format: 'png' });
  assert.equal(done.pixelift.model.requested, 'Standard V2');
  assert.equal(done.pixelift.model.used, 'realesrgan-x4plus');
  // The face pass ran (face_enhancement: true) and found no face in this photo.
  const native = await json(await svc.call(`/v1/jobs/${run.id}`, { headers: auth }));
  assert.deepEqual(native.result.faces, []);

  const got = await until(() => hook.got[0], 30_000, 'the callback');
  const body = JSON.parse(got.text);
  assert.equal(body.event, 'run.completed');
  assert.equal(body.run_id, run.id);
  assert.equal(body.status, 'succeeded');
  assert.equal(body.output.outputs[0].width, 192);
  assert.equal(typeof body.duration_ms, 'number');
  assert.equal(body.created_at, run.created_at);
  assert.equal(typeof body.completed_at, 'string');
  assert.equal(body.metadata, null);
  assert.ok(String(got.headers['runflow-request-id']).length > 0);
  assert.ok(verify(got.raw, String(got.headers['runflow-signature'])), 'signature verifies');
  assert.ok(!verify(Buffer.concat([got.raw, Buffer.from(' ')]), String(got.headers['runflow-signature'])));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(hook.got.length, 1, 'one callback, on the terminal state only');
});

test('runflow: callbacks are tried 3 times, 1 s then 2 s apart, on 5xx only; a 4xx is not retried', async (t) => {
  const images = await imageHost(t, { '/in.png': png });
  const down = await receiver(t, [500, 502, 503, 504]);
  const gone = await receiver(t, [410]);
  const submit = (callback_url: string, metadata: object) =>
    svc.call(`${BASE}/v1/models/topaz/upscale/image/runs`, {
      method: 'POST',
      headers: auth,
      json: { input: { image_url: images.url('/in.png'), upscale_factor: 2 }, callback_url, metadata },
    });
  assert.equal((await submit(down.url, { order: 1 })).status, 201);
  assert.equal((await submit(gone.url, { order: 2 })).status, 201);
  await until(() => down.got.length >= 3, 60_000, 'three attempts');
  await until(() => gone.got.length >= 1, 60_000, 'the 410 attempt');
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(down.got.length, 3, 'three attempts, then given up');
  const [a, b, c] = down.got.map((g) => g.at) as [number, number, number];
  assert.ok(b - a >= 900 && b - a < 1900, `first retry after ${b - a} ms`);
  assert.ok(c - b >= 1900 && c - b < 3500, `second retry after ${c - b} ms`);
  assert.equal(gone.got.length, 1, '410 is final');
  assert.deepEqual(JSON.parse(gone.got[0]!.text).metadata, { order: 2 });
  // The same message each time: same request id, same body.
  assert.equal(new Set(down.got.map((g) => g.headers['runflow-request-id'])).size, 1);
  assert.equal(new Set(down.got.map((g) => g.text)).size, 1);
});

test('runflow: a run that fails carries failure_code, failure_stage and failure_message', async (t) => {
  const images = await imageHost(t, { '/broken.png': truncated(await testPng(64, 64)) });
  const hook = await receiver(t);
  const res = await svc.call(`${BASE}/v1/models/topaz/upscale/image/runs`, {
    method: 'POST',
    headers: auth,
    json: { input: { image_url: images.url('/broken.png') }, callback_url: hook.url, metadata: { a: 1 } },
  });
  assert.equal(res.status, 201, await res.clone().text());
  const run = await json(res);
  const done: Json = await until(async () => {
    const r = await json(await svc.call(`${BASE}/v1/runs/${run.id}`, { headers: auth }));
    return r.status === 'failed' || r.status === 'succeeded' ? r : undefined;
  });
  assert.equal(done.status, 'failed');
  assert.equal(done.failure_code, 'INPUT_VALIDATION_FAILED');
  assert.equal(done.failure_stage, 'input');
  assert.equal(typeof done.failure_message, 'string');
  assert.equal(done.output, null);
  const got = await until(() => hook.got[0], 30_000, 'the callback');
  const body = JSON.parse(got.text);
  assert.equal(body.event, 'run.failed');
  assert.equal(body.status, 'failed');
  assert.equal(body.output, null);
  assert.deepEqual(body.metadata, { a: 1 });
});

test('runflow: cancel → cancelled, with a run.cancelled callback', async (t) => {
  const images = await imageHost(t, { '/big.png': await testPng(256, 256) });
  const hook = await receiver(t);
  const run = await json(
    await svc.call(`${BASE}/v1/models/topaz/upscale/image/runs`, {
      method: 'POST',
      headers: auth,
      json: { input: { image_url: images.url('/big.png'), upscale_factor: 4 }, callback_url: hook.url },
    }),
  );
  const canceled = await json(
    await svc.call(`${BASE}/v1/runs/${run.id}/cancel`, { method: 'POST', headers: auth }),
  );
  assert.equal(canceled.status, 'cancelled');
  const got = await until(() => hook.got[0], 30_000, 'the callback');
  assert.equal(JSON.parse(got.text).event, 'run.cancelled');
  assert.equal(JSON.parse(got.text).status, 'cancelled');
});

test('runflow: errors come in Runflow’s envelope {code, message, errors[]}', async () => {
  const post = (body: unknown, headers: Record<string, string> = auth) =>
    svc.call(`${BASE}/v1/models/topaz/upscale/image/runs`, { method: 'POST', headers, json: body });

  const noKey = await post({ input: { image_url: 'http://127.0.0.1:9/x.png' } }, {});
  assert.equal(noKey.status, 401);
  assert.deepEqual(await json(noKey), {
    code: 'UNAUTHORIZED',
    message: (await json(await post({}, {}))).message,
    errors: [],
  });

  const badFormat = await post({ input: { image_url: 'http://127.0.0.1:9/x.png', output_format: 'webp' } });
  assert.equal(badFormat.status, 400);
  const bf = await json(badFormat);
  assert.equal(bf.code, 'INPUT_VALIDATION_FAILED');
  assert.equal(bf.errors[0].field, 'input.output_format');

  const badModel = await json(
    await post({ input: { image_url: 'http://127.0.0.1:9/x.png', model: 'Standard V3' } }),
  );
  assert.equal(badModel.errors[0].field, 'input.model');
  const badCreativity = await json(
    await post({ input: { image_url: 'http://127.0.0.1:9/x.png', creativity: 7 } }),
  );
  assert.equal(badCreativity.errors[0].field, 'input.creativity');
  const missing = await json(await post({ input: {} }));
  assert.equal(missing.errors[0].field, 'input.image_url');
  const unknown = await json(await post({ input: { image_url: 'x', scale: 2 } }));
  assert.equal(unknown.errors[0].field, 'input.scale');
  const tooBig = await post({
    input: { image_url: `data:image/png;base64,${png.toString('base64')}`, upscale_factor: 40 },
  });
  assert.equal(tooBig.status, 400);
  assert.equal((await json(tooBig)).errors[0].field, 'input.upscale_factor');

  const poor = await post(
    { input: { image_url: `data:image/png;base64,${png.toString('base64')}` } },
    { Authorization: 'Bearer rf_poor_key' },
  );
  assert.equal(poor.status, 402);
  assert.equal((await json(poor)).code, 'INSUFFICIENT_CREDIT');

  const missingRun = await svc.call(`${BASE}/v1/runs/job_doesnotexist`, { headers: auth });
  assert.equal(missingRun.status, 404);
  assert.equal((await json(missingRun)).code, 'RUN_NOT_FOUND');
});
