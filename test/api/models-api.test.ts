/**
 * POST /v1/models and DELETE /v1/models/{id} on the real server: admin keys only (403
 * `forbidden` for the others, both created through the key store as `pixelift keys` does), the
 * upload recognised, converted and verified, then usable by id in /v1/upscale; unsafe and
 * oversize files refused with their codes and nothing left in the models directory.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { fixturePath } from '../helpers/pytorch-fixtures.js';
import { dataUri, startTestService, type TestService, testPng } from '../helpers/service.js';

let svc: TestService;
let admin: string;
let plain: string;

before(async () => {
  svc = await startTestService({ PIXELIFT_MAX_MODEL_BYTES: '60000' });
  const stores = await svc.openStores();
  try {
    admin = (await stores.keys.create({ name: 'ops', credits: null, admin: true })).secret;
    plain = (await stores.keys.create({ name: 'app', credits: null })).secret;
  } finally {
    await stores.close();
  }
});
after(() => svc.close(1000));

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;

function upload(fixture: string, key: string, fields: Record<string, string> = {}, name = fixture) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set('file', new Blob([fs.readFileSync(fixturePath(fixture))]), name);
  return svc.call('/v1/models', { method: 'POST', body: form, headers: { authorization: `Bearer ${key}` } });
}

const modelsDir = () => path.join(svc.dataDir, 'models');
const listed = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

test('only admin keys may add or remove models: others get 403 forbidden, no key 401', async () => {
  const res = await upload('srvgg-prelu-x4.pth', plain);
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as Json).error.code, 'forbidden');
  const anon = await svc.call('/v1/models', { method: 'POST', body: new FormData() });
  assert.equal(anon.status, 401);
  const del = await svc.call('/v1/models/bicubic', {
    method: 'DELETE',
    headers: { authorization: `Bearer ${plain}` },
  });
  assert.equal(del.status, 403);
  assert.deepEqual(listed(modelsDir()), []);
});

test('an admin uploads a .pth: it is recognised, listed, upscales by id (native API and a compat dialect), and DELETE removes it', async () => {
  const res = await upload('srvgg-prelu-x4.legacy.pth', admin, { id: 'team-compact' }, '4x_compact.pth');
  const body = (await res.json()) as Json;
  assert.equal(res.status, 201, JSON.stringify(body));
  assert.equal(body.id, 'team-compact');
  assert.equal(body.architecture.id, 'srvgg');
  assert.deepEqual(body.scales, [4]);
  assert.equal(body.params, 4920);
  assert.deepEqual(listed(modelsDir()), ['team-compact.pth']);

  const list = (await (
    await svc.call('/v1/models', { headers: { authorization: `Bearer ${plain}` } })
  ).json()) as Json;
  assert.equal(list.data.find((m: Json) => m.id === 'team-compact')?.architecture.id, 'srvgg');

  const job = await svc.call('/v1/upscale', {
    method: 'POST',
    headers: { prefer: 'wait=60', authorization: `Bearer ${plain}` },
    json: { image: dataUri(await testPng(16, 12)), model: 'team-compact' },
  });
  const done = (await job.json()) as Json;
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  // A user model has no measured int8 bar: auto (the default) runs it in fp32.
  assert.deepEqual(done.model, { requested: 'team-compact', used: 'team-compact', precision: 'fp32' });
  const out = await sharp(Buffer.from(await (await fetch(done.result.url)).arrayBuffer())).metadata();
  assert.deepEqual([out.width, out.height], [64, 48]);

  // A compat dialect takes the id too (Runware passes its `model` through).
  const rw = await svc.call('/compat/runware/v1', {
    method: 'POST',
    headers: { authorization: `Bearer ${plain}` },
    json: [
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: dataUri(await testPng(16, 12)),
        model: 'team-compact',
        upscaleFactor: 4,
        outputFormat: 'PNG',
      },
    ],
  });
  const rwBody = (await rw.json()) as Json;
  assert.equal(rw.status, 200, JSON.stringify(rwBody));
  const rwOut = await sharp(
    Buffer.from(await (await fetch(rwBody.data[0].imageURL)).arrayBuffer()),
  ).metadata();
  assert.deepEqual([rwOut.width, rwOut.height], [64, 48]);

  const del = await svc.call('/v1/models/team-compact', {
    method: 'DELETE',
    headers: { authorization: `Bearer ${admin}` },
  });
  assert.equal(del.status, 200);
  assert.deepEqual(listed(modelsDir()), []);
  const gone = await svc.call('/v1/upscale', {
    method: 'POST',
    headers: { prefer: 'wait=30', authorization: `Bearer ${plain}` },
    json: { image: dataUri(await testPng(16, 12)), model: 'team-compact' },
  });
  assert.equal(gone.status, 404);
  assert.equal(((await gone.json()) as Json).error.code, 'model_not_found');
});

test('an unsafe pickle is 422 model_unsafe, an oversize file 413 model_too_large, and neither is kept', async () => {
  const evil = await upload('evil-os-system.pth', admin);
  assert.equal(evil.status, 422);
  const e = (await evil.json()) as Json;
  assert.equal(e.error.code, 'model_unsafe');
  assert.match(e.error.message, /posix\.system/);
  assert.match(
    e.error.message,
    /^Refusing to load evil-os-system\.pth:/,
    'the uploaded name, no server path',
  );
  const big = await upload('span-x4.pth', admin); // 138 kB > PIXELIFT_MAX_MODEL_BYTES=60000
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as Json).error.code, 'model_too_large');
  const unknown = await upload('unknown-arch.safetensors', admin);
  assert.equal(unknown.status, 422);
  const u = (await unknown.json()) as Json;
  assert.equal(u.error.code, 'model_arch_unknown');
  assert.deepEqual(u.error.details.firstKeys, ['encoder.layer0.weight', 'decoder.head.bias']);
  assert.deepEqual(listed(modelsDir()), []);
});
