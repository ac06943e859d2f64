/**
 * Apiframe dialect: the docs' request (POST /v2/images/upscale with a per-model params object,
 * webhookUrl, webhookEvents, Idempotency-Key, X-API-Key) replayed against /compat/apiframe with
 * only the base URL and image URL changed; webhooks verified as an Apiframe customer does
 * (HMAC-SHA256 of the raw body keyed with the SHA-256 hex digest of their API key).
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { openSqliteStores } from '../../../src/jobs/sqlite/index.js';
import { imageHost, type Json, json, receiver, sizeOf, truncated, until } from '../../helpers/compat.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';

const KEY = 'afk_live_test_key';
const PAYING = 'afk_paying_key';
let svc: TestService;
let png: Buffer;

before(async () => {
  png = await testPng(48, 32);
  svc = await startTestService({
    PIXELIFT_API_KEYS: `${KEY},afk_poor_key:0,${PAYING}:100`,
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    // 32-pixel tiles: a 48×32 image runs in more than one, so the worker reports progress.
    PIXELIFT_TILE: '32',
  });
});
after(() => svc?.close());

const BASE = '/compat/apiframe';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function upscale(body: unknown, headers: Record<string, string> = { 'X-API-Key': KEY }) {
  return svc.call(`${BASE}/v2/images/upscale`, { method: 'POST', headers, json: body });
}

async function poll(jobId: string, key = KEY): Promise<{ done: Json; seen: Set<string> }> {
  const seen = new Set<string>();
  const done: Json = await until(async () => {
    const r = await json(await svc.call(`${BASE}/v2/jobs/${jobId}`, { headers: { 'X-API-Key': key } }));
    seen.add(r.status);
    return r.status === 'COMPLETED' || r.status === 'FAILED' ? r : undefined;
  }, 240_000);
  return { done, seen };
}

/** What an Apiframe customer runs on a webhook: HMAC of the raw body with sha256(apiKey) as the secret. */
function verify(raw: Buffer, signature: string, apiKey: string): boolean {
  const secret = createHash('sha256').update(apiKey).digest('hex');
  const expected = createHmac('sha256', secret).update(raw).digest('hex');
  return (
    signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

async function credits(secret: string): Promise<number | null | undefined> {
  const s = openSqliteStores(path.join(svc.dataDir, 'pixelift.db'));
  try {
    return (await s.keys.authenticate(secret))?.credits;
  } finally {
    s.close();
  }
}

test('apiframe: Topaz upscale is accepted (202, UUID), replayed by Idempotency-Key, polled to COMPLETED, with signed progress and completed webhooks', async (t) => {
  const images = await imageHost(t, { '/photo.png': png });
  const hook = await receiver(t);
  const body = {
    model: 'topaz-image-upscale',
    topazUpscaleParams: {
      imageUrl: images.url('/photo.png'),
      upscaleFactor: 4,
      outputFormat: 'png',
      enhanceModel: 'High Fidelity V2',
      faceEnhancement: true,
      subjectDetection: 'Foreground',
      denoise: 0.2,
    },
    webhookUrl: hook.url,
    webhookEvents: ['progress', 'completed', 'failed'],
  };
  const headers = { 'X-API-Key': KEY, 'Idempotency-Key': 'upscale-photo-1' };
  const res = await upscale(body, headers);
  assert.equal(res.status, 202, await res.clone().text());
  const accepted = await json(res);
  assert.match(accepted.jobId, UUID);
  assert.equal(accepted.status, 'QUEUED');
  // Face enhancement is honoured (the face pass runs); subject detection is reported as not.
  assert.ok(!accepted.warnings.some((w: string) => /faceEnhancement/.test(w)), accepted.warnings.join('\n'));
  assert.ok(accepted.warnings.some((w: string) => /subjectDetection "Foreground"/.test(w)));

  // The same request with the same Idempotency-Key is the same job.
  const again = await upscale(body, headers);
  assert.equal(again.status, 202);
  assert.equal((await json(again)).jobId, accepted.jobId);

  const { done, seen } = await poll(accepted.jobId);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
  for (const s of seen) assert.ok(['QUEUED', 'PROCESSING', 'COMPLETED'].includes(s), s);
  assert.equal(done.jobId, accepted.jobId);
  assert.equal(done.model, 'topaz-image-upscale');
  assert.equal(done.progress, 100);
  assert.equal(done.error, null);
  assert.equal(done.result.images.length, 1, 'a single image');
  assert.ok(done.creditCost > 0);
  assert.equal(done.refunded, false);
  assert.equal(done.pixelift.model.used, 'rrdn-thick', 'High Fidelity V2 → rrdn-thick');
  const file = Buffer.from(await (await fetch(done.result.images[0])).arrayBuffer());
  assert.deepEqual(await sizeOf(file), { width: 192, height: 128, format: 'png' });

  const completed = await until(
    () => hook.got.find((g) => JSON.parse(g.text).event === 'completed'),
    60_000,
    'the completed webhook',
  );
  const progress = hook.got.filter((g) => JSON.parse(g.text).event === 'progress');
  assert.ok(progress.length >= 2, `the start and the worker's progress (${progress.length} progress events)`);
  let last = -1;
  for (const p of progress) {
    const b = JSON.parse(p.text);
    assert.deepEqual(Object.keys(b).sort(), ['event', 'jobId', 'model', 'progress', 'status']);
    assert.equal(b.status, 'PROCESSING');
    assert.ok(Number.isInteger(b.progress) && b.progress >= last && b.progress < 100, String(b.progress));
    last = b.progress;
    assert.equal(p.headers['x-webhook-event'], 'progress');
    assert.ok(verify(p.raw, String(p.headers['x-webhook-signature']), KEY));
  }
  assert.ok(last > 0, 'the worker reported some progress');
  const c = JSON.parse(completed.text);
  assert.deepEqual(c, {
    event: 'completed',
    jobId: accepted.jobId,
    status: 'COMPLETED',
    progress: 100,
    result: c.result,
    model: 'topaz-image-upscale',
    creditCost: done.creditCost,
    completedAt: done.completedAt,
  });
  const fromHook = Buffer.from(await (await fetch(c.result)).arrayBuffer());
  assert.deepEqual(await sizeOf(fromHook), { width: 192, height: 128, format: 'png' });
  assert.equal(completed.headers['x-webhook-event'], 'completed');
  const signature = String(completed.headers['x-webhook-signature']);
  assert.match(signature, /^[0-9a-f]{64}$/);
  assert.ok(verify(completed.raw, signature, KEY), 'the signature verifies with sha256(API key)');
  assert.ok(
    !verify(Buffer.concat([completed.raw, Buffer.from(' ')]), signature, KEY),
    'a changed body does not',
  );
  assert.ok(!verify(completed.raw, signature, 'afk_another_key'), 'another key does not');
  assert.ok(!hook.got.some((g) => JSON.parse(g.text).event === 'failed'));
});

test('apiframe: Clarity upscale (Bearer key too) takes the default events — completed only — and warns that its knobs are ignored', async (t) => {
  const images = await imageHost(t, { '/art.png': png });
  const hook = await receiver(t);
  const res = await upscale(
    {
      model: 'clarity-upscale',
      clarityUpscaleParams: {
        imageUrl: images.url('/art.png'),
        upscaleFactor: 2,
        prompt: 'masterpiece, best quality, highres',
        creativity: 0.35,
        resemblance: 0.6,
        seed: 1337,
      },
      webhookUrl: hook.url,
    },
    { Authorization: `Bearer ${KEY}` },
  );
  assert.equal(res.status, 202, await res.clone().text());
  const accepted = await json(res);
  assert.ok(accepted.warnings.some((w: string) => /Clarity Upscaler is a generative upscaler/.test(w)));
  assert.ok(
    accepted.warnings.some((w: string) =>
      /clarityUpscaleParams\.prompt, clarityUpscaleParams\.creativity, clarityUpscaleParams\.resemblance, clarityUpscaleParams\.seed/.test(
        w,
      ),
    ),
    accepted.warnings.join('\n'),
  );
  const { done } = await poll(accepted.jobId);
  assert.equal(done.status, 'COMPLETED');
  assert.equal(done.model, 'clarity-upscale');
  assert.deepEqual(done.warnings, accepted.warnings);
  const file = Buffer.from(await (await fetch(done.result.images[0])).arrayBuffer());
  assert.deepEqual(await sizeOf(file), { width: 96, height: 64, format: 'png' }, 'Clarity defaults to PNG');
  const got = await until(() => hook.got[0], 60_000, 'the completed webhook');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    hook.got.map((g) => JSON.parse(g.text).event),
    ['completed'],
    'no progress events unless subscribed',
  );
  assert.ok(verify(got.raw, String(got.headers['x-webhook-signature']), KEY));
});

test('apiframe: a job that fails is FAILED with its error, a failed webhook, and its credits refunded', async (t) => {
  const images = await imageHost(t, { '/broken.png': truncated(await testPng(64, 64)) });
  const hook = await receiver(t);
  const headers = { 'X-API-Key': PAYING };
  const res = await upscale(
    {
      model: 'topaz-image-upscale',
      topazUpscaleParams: { imageUrl: images.url('/broken.png'), upscaleFactor: 2 },
      webhookUrl: hook.url,
      webhookEvents: ['completed', 'failed'],
    },
    headers,
  );
  assert.equal(res.status, 202, await res.clone().text());
  const accepted = await json(res);
  assert.ok(accepted.creditCost > 0);
  const { done } = await poll(accepted.jobId, PAYING);
  assert.equal(done.status, 'FAILED');
  assert.equal(typeof done.error, 'string');
  assert.equal(done.result, null);
  assert.equal(done.refunded, true);
  // The native view of the same job agrees, and the key has its credits back.
  const native = await json(await svc.call(`/v1/jobs/${done.pixelift.job_id}`, { headers }));
  assert.equal(native.refunded, true);
  assert.equal(native.status, 'failed');
  assert.equal(await credits(PAYING), 100);

  const got = await until(() => hook.got[0], 60_000, 'the failed webhook');
  assert.deepEqual(JSON.parse(got.text), {
    event: 'failed',
    jobId: accepted.jobId,
    status: 'FAILED',
    error: done.error,
    model: 'topaz-image-upscale',
  });
  assert.equal(got.headers['x-webhook-event'], 'failed');
  assert.ok(verify(got.raw, String(got.headers['x-webhook-signature']), PAYING), 'signed with this key');
});

test('apiframe: errors are {error, message, code, details[]} with the documented 400/401/402 and 404', async () => {
  const image = dataUri(png);
  const topaz = (params: object) => ({ model: 'topaz-image-upscale', topazUpscaleParams: params });

  const noKey = await upscale(topaz({ imageUrl: image }), {});
  assert.equal(noKey.status, 401);
  const nk = await json(noKey);
  assert.equal(nk.error, 'Unauthorized');
  assert.equal(typeof nk.message, 'string');
  assert.deepEqual(nk.details, []);
  assert.equal((await upscale(topaz({ imageUrl: image }), { 'X-API-Key': 'afk_wrong' })).status, 401);

  const bad = async (body: unknown, field: string) => {
    const r = await upscale(body);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${r.status}`);
    const b = await json(r);
    assert.equal(b.error, 'Validation error');
    assert.equal(b.details[0].field, field, JSON.stringify(b));
    return b;
  };
  const unknown = await bad(topaz({ imageUrl: image, scale: 4 }), 'topazUpscaleParams.scale');
  assert.match(unknown.message, /Unknown field "topazUpscaleParams\.scale"/);
  await bad(topaz({ upscaleFactor: 2 }), 'topazUpscaleParams.imageUrl');
  await bad(topaz({ imageUrl: image, upscaleFactor: 0.5 }), 'topazUpscaleParams.upscaleFactor');
  await bad(topaz({ imageUrl: image, upscaleFactor: 32 }), 'topazUpscaleParams.upscaleFactor');
  await bad(topaz({ imageUrl: image, outputFormat: 'gif' }), 'topazUpscaleParams.outputFormat');
  await bad(topaz({ imageUrl: image, enhanceModel: 'Wonder' }), 'topazUpscaleParams.enhanceModel');
  await bad(
    topaz({ imageUrl: image, faceEnhancementStrength: 2 }),
    'topazUpscaleParams.faceEnhancementStrength',
  );
  await bad(topaz({ imageUrl: 'not an image' }), 'topazUpscaleParams.imageUrl');
  await bad(
    { model: 'topaz-image-upscale', clarityUpscaleParams: { imageUrl: image } },
    'clarityUpscaleParams',
  );
  await bad({ model: 'clarity-upscale', topazUpscaleParams: { imageUrl: image } }, 'topazUpscaleParams');
  await bad({ model: 'clarity-upscale' }, 'clarityUpscaleParams');
  await bad(
    { model: 'clarity-upscale', clarityUpscaleParams: { imageUrl: image, dynamic: 51 } },
    'clarityUpscaleParams.dynamic',
  );
  await bad({ ...topaz({ imageUrl: image }), model: 'topaz-v3' }, 'model');
  await bad(
    { ...topaz({ imageUrl: image }), webhookUrl: 'http://127.0.0.1:9/h', webhookEvents: ['done'] },
    'webhookEvents.0',
  );
  await bad({ ...topaz({ imageUrl: image }), webhookEvents: ['completed'] }, 'webhookEvents');
  await bad({ ...topaz({ imageUrl: image }), prompt: 'x' }, 'prompt');

  // The same Idempotency-Key with another body is refused, not answered with the first job.
  const idem = { 'X-API-Key': KEY, 'Idempotency-Key': 'reused-key' };
  assert.equal((await upscale(topaz({ imageUrl: image }), idem)).status, 202);
  const reused = await upscale(topaz({ imageUrl: image, upscaleFactor: 3 }), idem);
  assert.equal(reused.status, 400);
  assert.equal((await json(reused)).code, 'idempotency_key_reused');

  const poor = await upscale(topaz({ imageUrl: image }), { 'X-API-Key': 'afk_poor_key' });
  assert.equal(poor.status, 402);
  const p = await json(poor);
  assert.equal(p.error, 'Insufficient credits');
  assert.equal(p.code, 'insufficient_credits');

  const missing = await svc.call(`${BASE}/v2/jobs/a1b2c3d4-e5f6-7890-abcd-ef1234567890`, {
    headers: { 'X-API-Key': KEY },
  });
  assert.equal(missing.status, 404);
  assert.equal((await json(missing)).error, 'Not found');
  assert.equal((await svc.call(`${BASE}/v2/jobs/not-a-uuid`, { headers: { 'X-API-Key': KEY } })).status, 404);
});

test('apiframe: a full queue is 503 Service unavailable with Retry-After', async () => {
  const busy = await startTestService({
    PIXELIFT_API_KEYS: KEY,
    PIXELIFT_MAX_QUEUE_DEPTH: '1',
  });
  try {
    const heavy = dataUri(await testPng(256, 256));
    const submit = () =>
      busy.call(`${BASE}/v2/images/upscale`, {
        method: 'POST',
        headers: { 'X-API-Key': KEY },
        json: { model: 'topaz-image-upscale', topazUpscaleParams: { imageUrl: heavy, upscaleFactor: 4 } },
      });
    const get = async (jobId: string) =>
      json(await busy.call(`${BASE}/v2/jobs/${jobId}`, { headers: { 'X-API-Key': KEY } }));
    const a = await json(await submit());
    await until(async () => (await get(a.jobId)).status === 'PROCESSING', 60_000, 'the first job to start');
    const b = await json(await submit());
    assert.equal(b.status, 'QUEUED');
    const full = await submit();
    assert.equal(full.status, 503);
    assert.ok(Number(full.headers.get('retry-after')) > 0);
    const body = await json(full);
    assert.equal(body.error, 'Service unavailable');
    assert.equal(body.code, 'queue_full');
    // A job canceled through the native API reads as FAILED here (Apiframe has no cancel).
    for (const j of [b, a]) {
      const native = (await get(j.jobId)).pixelift.job_id;
      await busy.call(`/v1/jobs/${native}/cancel`, { method: 'POST', headers: { 'X-API-Key': KEY } });
      const after = await get(j.jobId);
      assert.equal(after.status, 'FAILED');
      assert.equal(after.refunded, true);
    }
  } finally {
    await busy.close(1000);
  }
});
