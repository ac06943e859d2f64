/**
 * Bring-your-own models in scale-out (PostgreSQL + Redis + S3): a model added on the API node
 * goes to the blob store under its hash and into the registry; a worker node with its own
 * models directory fetches, converts and caches it on first use; a worker that cannot convert
 * it fails the job with the conversion's error code; DELETE removes it from the registry.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../../src/config.js';
import { openPostgresStores, type PostgresStores } from '../../../src/jobs/postgres/index.js';
import { type RunningService, startService } from '../../../src/server/boot.js';
import { type RunningWorker, startWorkerNode } from '../../../src/server/worker-node.js';
import { tempDir } from '../../helpers/models.js';
import { fixturePath } from '../../helpers/pytorch-fixtures.js';
import { dataUri, SHARED_MODEL_CACHE, scaleOutEnv, testPng } from '../../helpers/service.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;

let api: RunningService;
let worker: RunningWorker;
let stores: PostgresStores;
let admin: string;
const apiData = tempDir('pixelift-byo-api-');
const workerData = tempDir('pixelift-byo-worker-');

before(async () => {
  const env = await scaleOutEnv();
  const base = { PIXELIFT_PORT: '0', PIXELIFT_WORKERS: '1', PIXELIFT_THREADS: '1', PIXELIFT_DEVICE: 'cpu' };
  const logger = pino({ level: 'silent' });
  api = await startService(
    loadConfig({ ...env, ...base, PIXELIFT_DATA_DIR: apiData }, { modelCacheDir: SHARED_MODEL_CACHE }),
    logger,
  );
  // The worker has its own disk, and accepts smaller model files than the API node.
  worker = await startWorkerNode(
    loadConfig({ ...env, ...base, PIXELIFT_DATA_DIR: workerData, PIXELIFT_MAX_MODEL_BYTES: '15000' }),
    logger,
  );
  stores = await openPostgresStores({
    url: env.PIXELIFT_DATABASE_URL!,
    schema: env.PIXELIFT_DATABASE_SCHEMA!,
    max: 2,
  });
  admin = (await stores.keys.create({ name: 'ops', credits: null, admin: true })).secret;
});
after(async () => {
  await Promise.all([api.close(1000), worker.close(1000)]);
  await stores.close();
});

async function add(fixture: string, id: string): Promise<Json> {
  const form = new FormData();
  form.set('id', id);
  form.set('file', new Blob([fs.readFileSync(fixturePath(fixture))]), fixture);
  const res = await fetch(`${api.url}/v1/models`, {
    method: 'POST',
    body: form,
    headers: { authorization: `Bearer ${admin}` },
  });
  const body = (await res.json()) as Json;
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

async function upscale(model: string, scale?: number): Promise<Json> {
  const res = await fetch(`${api.url}/v1/upscale`, {
    method: 'POST',
    headers: { prefer: 'wait=60', authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image: dataUri(await testPng(16, 12)), model, scale }),
  });
  return (await res.json()) as Json;
}

test('a model added on the API node is stored under its hash, fetched by the worker and run there', async () => {
  await add('srvgg-relu-x2.safetensors', 'shared-x2');
  const { rows } = await stores.pool.query<{ sha256: string; blob_key: string }>(
    'SELECT sha256, blob_key FROM user_models WHERE id = $1',
    ['shared-x2'],
  );
  assert.equal(rows[0]?.blob_key, `models/${rows[0]?.sha256}`);
  assert.equal(fs.existsSync(path.join(workerData, 'models', 'shared-x2.safetensors')), false);

  const job = await upscale('shared-x2', 2);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error ?? job));
  assert.deepEqual([job.output.width, job.output.height], [32, 24]);
  const fetched = fs.readFileSync(path.join(workerData, 'models', 'shared-x2.safetensors'));
  assert.deepEqual(fetched, fs.readFileSync(fixturePath('srvgg-relu-x2.safetensors')));
});

test('a worker that cannot convert the model fails the job with the conversion error code', async () => {
  await add('srvgg-prelu-x4.pth', 'too-big-for-worker'); // 23 kB: the worker takes at most 15000 bytes
  const job = await upscale('too-big-for-worker');
  assert.equal(job.status, 'failed');
  assert.equal(job.error.code, 'model_too_large');
});

test('DELETE removes the model from the registry; nodes drop their copy when next asked for it', async () => {
  const res = await fetch(`${api.url}/v1/models/shared-x2`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${admin}` },
  });
  assert.equal(res.status, 200);
  const { rows } = await stores.pool.query('SELECT id FROM user_models WHERE id = $1', ['shared-x2']);
  assert.equal(rows.length, 0);
  const again = await fetch(`${api.url}/v1/upscale`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image: dataUri(await testPng(16, 12)), model: 'shared-x2' }),
  });
  assert.equal(again.status, 404);
});
