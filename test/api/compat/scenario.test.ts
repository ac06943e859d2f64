/**
 * Scenario dialect: the docs' cURL/Python/JavaScript example (they all send the same body to
 * POST /v1/generate/custom/model_topaz-image-upscale with Basic auth, then poll GET
 * /v1/jobs/{jobId} until status "success" and read job.metadata.assetIds) replayed against
 * /compat/scenario with only the base URL changed and the image uploaded as an asset first.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Json, json, sizeOf, truncated, until } from '../../helpers/compat.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';

const API_KEY = 'sc_live_test_key';
const API_SECRET = 'sc_secret_that_pixelift_ignores';
let svc: TestService;
let png: Buffer;

before(async () => {
  png = await testPng(48, 32);
  svc = await startTestService({ PIXELIFT_API_KEYS: `${API_KEY},sc_poor_key:0` });
});
after(() => svc?.close());

const BASE = '/compat/scenario';
/** `-H "Authorization: Basic $(echo -n '<key>:<secret>' | base64)"` */
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const auth = { Authorization: basic(API_KEY, API_SECRET) };

async function uploadAsset(image: string, name?: string): Promise<Json> {
  const res = await svc.call(`${BASE}/v1/assets`, { method: 'POST', headers: auth, json: { image, name } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await json(res)).asset;
}

async function generate(body: object, headers: Record<string, string> = auth): Promise<Response> {
  return svc.call(`${BASE}/v1/generate/custom/model_topaz-image-upscale`, {
    method: 'POST',
    headers,
    json: body,
  });
}

async function settle(jobId: string): Promise<{ job: Json; seen: Set<string> }> {
  const seen = new Set<string>();
  const job: Json = await until(
    async () => {
      const r = (await json(await svc.call(`${BASE}/v1/jobs/${jobId}`, { headers: auth }))).job;
      seen.add(r.status);
      return ['success', 'failure', 'canceled'].includes(r.status) ? r : undefined;
    },
    240_000,
    `job ${jobId}`,
  );
  return { job, seen };
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

test('scenario: the docs example — asset upload, generate with every documented parameter, poll to success, the result is an asset', async () => {
  const asset = await uploadAsset(png.toString('base64'), 'photo.png');
  assert.match(asset.id, /^asset_/);
  assert.equal(asset.mimeType, 'image/png');
  assert.equal(asset.metadata.name, 'photo.png');
  assert.deepEqual(await sizeOf(await download(asset.url)), { width: 48, height: 32, format: 'png' });
  const read = (await json(await svc.call(`${BASE}/v1/assets/${asset.id}`, { headers: auth }))).asset;
  assert.equal(read.id, asset.id);
  assert.equal(read.metadata.width, 48);

  // Exactly the docs' body, with the asset id as the image.
  const body = {
    image: asset.id,
    enhanceModel: 'Standard V2',
    upscaleFactor: '2x',
    subjectDetection: 'None',
    faceEnhancement: false,
    faceEnhancementCreativity: 0,
    faceEnhancementStrength: 0.8,
  };
  const res = await generate(body);
  assert.equal(res.status, 200, await res.clone().text());
  const response = await json(res);
  assert.match(response.job.jobId, /^job_/);
  assert.ok(['queued', 'in-progress'].includes(response.job.status), response.job.status);
  assert.deepEqual(response.job.metadata.input, body);
  assert.deepEqual(response.job.metadata.assetIds, []);
  assert.deepEqual(response.job.warnings, [], 'nothing in the docs example goes unhonoured');
  assert.ok(response.creativeUnitsCost > 0);

  const { job, seen } = await settle(response.job.jobId);
  assert.equal(job.status, 'success', JSON.stringify(job));
  for (const s of seen) assert.ok(['queued', 'in-progress', 'success'].includes(s), s);
  assert.equal(job.progress, 1);
  assert.deepEqual(
    job.statusHistory.map((h: Json) => h.status),
    ['queued', 'in-progress', 'success'],
  );
  assert.equal(job.metadata.assetIds.length, 1);
  const [resultId] = job.metadata.assetIds;
  const result = (await json(await svc.call(`${BASE}/v1/assets/${resultId}`, { headers: auth }))).asset;
  assert.equal(result.id, resultId);
  assert.equal(result.mimeType, 'image/png');
  assert.deepEqual(await sizeOf(await download(result.url)), { width: 96, height: 64, format: 'png' });

  // The generated asset is an input like any other; left-out parameters take the documented defaults.
  const again = await json(await generate({ image: resultId }));
  assert.deepEqual(again.job.metadata.input, { ...body, image: resultId });
  const second = (await settle(again.job.jobId)).job;
  assert.equal(second.status, 'success');
  const out = (
    await json(await svc.call(`${BASE}/v1/assets/${second.metadata.assetIds[0]}`, { headers: auth }))
  ).asset;
  assert.deepEqual(await sizeOf(await download(out.url)), { width: 192, height: 128, format: 'png' });
});

test('scenario: face enhancement is honoured (no warning) and subject detection reported as a warning; a broken image ends in failure, refunded', async () => {
  const broken = await uploadAsset(dataUri(truncated(await testPng(64, 64))));
  const res = await generate({
    image: broken.id,
    upscaleFactor: '4x',
    enhanceModel: 'Low Resolution V2',
    faceEnhancement: true,
    subjectDetection: 'Foreground',
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { job: queued } = await json(res);
  assert.ok(!queued.warnings.some((w: string) => /faceEnhancement/.test(w)));
  assert.ok(queued.warnings.some((w: string) => /subjectDetection "Foreground"/.test(w)));
  const { job } = await settle(queued.jobId);
  assert.equal(job.status, 'failure');
  assert.equal(typeof job.metadata.error, 'string');
  assert.deepEqual(job.metadata.assetIds, []);
  const native = await json(await svc.call(`/v1/jobs/${job.jobId}`, { headers: auth }));
  assert.equal(native.refunded, true);
});

test('scenario: a job is canceled with POST /v1/jobs/{jobId}/action {action: "cancel"}', async () => {
  const asset = await uploadAsset(dataUri(await testPng(256, 256)));
  const { job } = await json(await generate({ image: asset.id, upscaleFactor: '4x' }));
  const res = await svc.call(`${BASE}/v1/jobs/${job.jobId}/action`, {
    method: 'POST',
    headers: auth,
    json: { action: 'cancel' },
  });
  assert.equal(res.status, 200);
  const canceled = (await json(res)).job;
  assert.equal(canceled.status, 'canceled');
  assert.equal(canceled.statusHistory.at(-1).status, 'canceled');
  const again = await svc.call(`${BASE}/v1/jobs/${job.jobId}/action`, {
    method: 'POST',
    headers: auth,
    json: { action: 'cancel' },
  });
  assert.equal(again.status, 409);
  assert.equal((await json(again)).reason, 'job_not_cancelable');
});

test('scenario: Basic auth takes the key as user or password; errors are {error, reason, param?}', async () => {
  const asset = await uploadAsset(dataUri(png));
  const ok = { image: asset.id };

  const none = await generate(ok, {});
  assert.equal(none.status, 401);
  const n = await json(none);
  assert.equal(n.reason, 'unauthorized');
  assert.equal(typeof n.error, 'string');
  assert.equal((await generate(ok, { Authorization: basic('sc_wrong', 'sc_wrong') })).status, 401);
  // Scenario clients send key:secret; a Pixelift key given as the secret half works too.
  const asPassword = await svc.call(`${BASE}/v1/assets/${asset.id}`, {
    headers: { Authorization: basic('scenario-project-key', API_KEY) },
  });
  assert.equal(asPassword.status, 200);

  const bad = async (body: object, param: string) => {
    const r = await generate(body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status}`);
    const b = await json(r);
    assert.equal(b.reason, 'invalid_argument');
    assert.equal(b.param, param, JSON.stringify(b));
    return b;
  };
  await bad({ ...ok, upscaleFactor: '3x' }, 'upscaleFactor');
  await bad({ ...ok, upscaleFactor: 2 }, 'upscaleFactor');
  await bad({ ...ok, enhanceModel: 'Wonder' }, 'enhanceModel');
  await bad({ ...ok, subjectDetection: 'Faces' }, 'subjectDetection');
  await bad({ ...ok, faceEnhancementStrength: 1.5 }, 'faceEnhancementStrength');
  await bad({ ...ok, faceEnhancementCreativity: -0.1 }, 'faceEnhancementCreativity');
  await bad({ ...ok, outputFormat: 'jpeg' }, 'outputFormat');
  await bad({}, 'image');
  const notAsset = await bad({ image: 'https://example.com/photo.png' }, 'image');
  assert.match(notAsset.error, /asset id/);

  const gone = await generate({ image: 'asset_upl_doesnotexist' });
  assert.equal(gone.status, 404);
  assert.equal((await json(gone)).reason, 'upload_not_found');
  const noAsset = await svc.call(`${BASE}/v1/assets/asset_job_doesnotexist`, { headers: auth });
  assert.equal(noAsset.status, 404);
  assert.equal((await json(noAsset)).reason, 'image_not_found');
  const noJob = await svc.call(`${BASE}/v1/jobs/job_doesnotexist`, { headers: auth });
  assert.equal(noJob.status, 404);
  assert.equal((await json(noJob)).reason, 'job_not_found');

  const urlAsset = await svc.call(`${BASE}/v1/assets`, {
    method: 'POST',
    headers: auth,
    json: { image: 'https://example.com/photo.png' },
  });
  assert.equal(urlAsset.status, 400);
  assert.equal((await json(urlAsset)).param, 'image');
  const notImage = await svc.call(`${BASE}/v1/assets`, {
    method: 'POST',
    headers: auth,
    json: { image: Buffer.from('plain text, not an image').toString('base64') },
  });
  assert.equal(notImage.status, 422);
  assert.equal((await json(notImage)).reason, 'image_unreadable');

  const poor = await generate(ok, { Authorization: basic('sc_poor_key', '') });
  // The asset belongs to the other key: the poor key sees no such upload.
  assert.equal(poor.status, 404);
  const poorAsset = await svc.call(`${BASE}/v1/assets`, {
    method: 'POST',
    headers: { Authorization: basic('sc_poor_key', '') },
    json: { image: png.toString('base64') },
  });
  const own = (await json(poorAsset)).asset;
  const broke = await generate({ image: own.id }, { Authorization: basic('sc_poor_key', '') });
  assert.equal(broke.status, 402);
  assert.equal((await json(broke)).reason, 'insufficient_credits');
});
