/**
 * Each compatibility dialect publishes its own OpenAPI document at /compat/<dialect>/openapi.json
 * (public, like /openapi.json): a valid OpenAPI 3.0 document (Redocly's structural rules), whose
 * server is the dialect's prefix, so the provider's paths read as in the provider's docs, and
 * types generated from it type free-form objects as such. Every operation it lists is a route of
 * the real server: called with the key and made-up ids, it answers something other than "no such
 * route"; that answer, and those of a few calls per dialect that succeed, have a status the
 * document declares and a body that validates against the declared schema. The native document
 * passes the same structural check.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import openapiTS, { astToString } from 'openapi-typescript';
import { DIALECTS } from '../../../src/api/compat/index.js';
import {
  type Answer,
  fillPath,
  type OpenApiDocument,
  operationsOf,
  routesOf,
  SpecChecker,
} from '../../helpers/openapi.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';

const KEY = 'pk_openapi_dialects';
let svc: TestService;

before(async () => {
  svc = await startTestService({
    PIXELIFT_API_KEYS: KEY,
    PIXELIFT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  });
});
after(() => svc.close(1000));

async function structuralErrors(text: string): Promise<string[]> {
  const config = await createConfig({ extends: ['minimal'] });
  const problems = await lintFromString({ source: text, absoluteRef: '/openapi.json', config });
  return problems
    .filter((p) => p.severity === 'error')
    .map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`);
}

test('the native document is structurally valid OpenAPI 3.0', async () => {
  const text = await (await svc.call('/openapi.json')).text();
  assert.deepEqual(await structuralErrors(text), []);
});

test('the dialects are the seven providers, each with a document', () => {
  assert.deepEqual(DIALECTS.map((d) => d.name).sort(), [
    'apiframe',
    'fal',
    'oxen',
    'replicate',
    'runflow',
    'runware',
    'scenario',
  ]);
});

type Call = (
  method: string,
  path: string,
  params?: Record<string, string>,
  init?: { json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> },
) => Promise<Answer>;

/**
 * Calls that succeed, per dialect, so that the documented success bodies are checked against
 * real ones too (the calls with made-up ids below check the error bodies).
 */
const FLOWS: Record<string, (call: Call, image: string, png: Buffer) => Promise<void>> = {
  runflow: async (call, image) => {
    const run = await call(
      'POST',
      '/v1/models/topaz/upscale/image/runs',
      {},
      { json: { input: { image_url: image } } },
    );
    assert.equal(run.status, 201);
    assert.equal((await call('GET', '/v1/runs/{id}', { id: run.json.id })).status, 200);
  },
  apiframe: async (call, image) => {
    const job = await call(
      'POST',
      '/v2/images/upscale',
      {},
      { json: { model: 'topaz-image-upscale', topazUpscaleParams: { imageUrl: image } } },
    );
    assert.equal(job.status, 202);
    assert.equal((await call('GET', '/v2/jobs/{id}', { id: job.json.jobId })).status, 200);
  },
  oxen: async (call, image) => {
    const queued = await call(
      'POST',
      '/api/ai/queue',
      {},
      { json: { model: 'topazlabs-image-upscale', input_image: image } },
    );
    assert.equal(queued.status, 200);
    const id = queued.json.generations[0].generation_id;
    assert.equal((await call('GET', '/api/ai/queue/{id}', { id })).status, 200);
    assert.equal((await call('GET', '/api/ai/models/{id}', { id: 'topazlabs-image-upscale' })).status, 200);
  },
  scenario: async (call, image) => {
    const asset = await call('POST', '/v1/assets', {}, { json: { image } });
    assert.equal(asset.status, 200);
    assert.equal((await call('GET', '/v1/assets/{assetId}', { assetId: asset.json.asset.id })).status, 200);
    const job = await call(
      'POST',
      '/v1/generate/custom/model_topaz-image-upscale',
      {},
      { json: { image: asset.json.asset.id } },
    );
    assert.equal(job.status, 200);
    assert.equal((await call('GET', '/v1/jobs/{jobId}', { jobId: job.json.job.jobId })).status, 200);
  },
  runware: async (call, image) => {
    const done = await call(
      'POST',
      '/v1',
      {},
      { json: [{ taskType: 'imageUpload', taskUUID: randomUUID(), image }] },
    );
    assert.equal(done.status, 200);
    assert.ok(done.json.data[0].imageUUID);
  },
  replicate: async (call, _image, png) => {
    const form = new FormData();
    form.set('content', new Blob([png], { type: 'image/png' }), 'in.png');
    const file = await call('POST', '/v1/files', {}, { body: form });
    assert.equal(file.status, 201);
    assert.equal((await call('GET', '/v1/files/{id}', { id: file.json.id })).status, 200);
    const model = await call('GET', '/v1/models/{owner}/{name}', {
      owner: 'nightmareai',
      name: 'real-esrgan',
    });
    assert.equal(model.status, 200);
    const prediction = await call(
      'POST',
      '/v1/models/{owner}/{name}/predictions',
      { owner: 'nightmareai', name: 'real-esrgan' },
      { json: { input: { image: file.json.urls.get } } },
    );
    assert.equal(prediction.status, 201);
    assert.equal((await call('GET', '/v1/predictions/{id}', { id: prediction.json.id })).status, 200);
  },
  fal: async (call, image) => {
    const queued = await call(
      'POST',
      '/proxy',
      {},
      { json: { image_url: image }, headers: { 'x-fal-target-url': 'https://queue.fal.run/fal-ai/esrgan' } },
    );
    assert.equal(queued.status, 200);
    assert.equal(queued.json.status, 'IN_QUEUE');
  },
};

/** WebSocket routes, which OpenAPI does not describe. */
const SOCKETS = ['runware GET /v1'];

for (const dialect of DIALECTS) {
  test(`/compat/${dialect.name}/openapi.json is valid OpenAPI 3.0, every operation it lists is routed, and answers as documented`, async () => {
    const prefix = `/compat/${dialect.name}`;
    const res = await svc.call(`${prefix}/openapi.json`); // no key: public
    assert.equal(res.status, 200);
    const text = await res.text();
    const doc = JSON.parse(text) as OpenApiDocument;
    assert.equal(doc.openapi, '3.0.3');
    assert.deepEqual(
      doc.servers.map((s: { url: string }) => s.url),
      [prefix],
    );
    assert.deepEqual(await structuralErrors(text), []);
    // Types can be generated from it, and a free-form object is not an empty record.
    const types = astToString(await openapiTS(doc as Parameters<typeof openapiTS>[0]));
    assert.match(types, /export interface paths/);
    assert.doesNotMatch(types, /:\s*Record<string, never>/);

    // What "no such route" looks like in this dialect, so that the calls below can tell it apart.
    const unrouted = await svc.call(`${prefix}/no-such-route-${randomUUID()}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(unrouted.status, 404);
    assert.match(await unrouted.text(), /No route /);

    // Every answer below is checked against the document: a declared status, and a body that
    // validates against the declared schema.
    const checker = new SpecChecker(doc);
    const call: Call = async (method, path, params = {}, init = {}) => {
      const abort = new AbortController();
      const res = await svc.call(`${prefix}${fillPath(path, params)}`, {
        method,
        signal: abort.signal,
        headers: { authorization: `Bearer ${KEY}`, ...init.headers },
        ...(init.json !== undefined ? { json: init.json } : { body: init.body }),
      });
      // An event stream never ends: its status and headers are the answer.
      if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
        abort.abort();
        return checker.check(method, path, new Response('', { status: res.status, headers: res.headers }));
      }
      return checker.check(method, path, res);
    };

    const ops = operationsOf(doc);
    assert.ok(ops.length > 0, 'no operations');
    // …and it lists every route the dialect has (bar the document itself and WebSockets).
    const routes = routesOf(svc.app)
      .filter((r) => r.split(' ')[1]!.startsWith(`${prefix}/`))
      .map((r) => r.replace(prefix, ''))
      .filter((r) => r !== 'GET /openapi.json' && !SOCKETS.includes(`${dialect.name} ${r}`));
    assert.deepEqual(routes, ops);
    const ids = new Set<string>();
    for (const op of ops) {
      const [method, path] = op.split(' ') as [string, string];
      const o = doc.paths[path][method.toLowerCase()];
      assert.ok(o.operationId && !ids.has(o.operationId), `${op}: missing or repeated operationId`);
      ids.add(o.operationId);
      assert.ok(o.summary, `${op} has no summary`);

      // Any value fits a path parameter here: the route must exist, whatever the resource.
      const params = Object.fromEntries(
        [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => [name!, randomUUID()]),
      );
      const url = `${prefix}${fillPath(path, params)}`;
      const answer = await call(
        method,
        path,
        params,
        o.requestBody?.content?.['application/json'] ? { json: {} } : {},
      );
      assert.ok(
        !/No route /.test(answer.text),
        `${method} ${url} is not routed: ${answer.status} ${answer.text.slice(0, 200)}`,
      );
      if (answer.status === 404) {
        // Only a missing resource may be 404 (the random id), never the route.
        assert.ok(Object.keys(params).length > 0, `${method} ${url}: 404 ${answer.text.slice(0, 200)}`);
      }
    }

    const flow = FLOWS[dialect.name];
    assert.ok(flow, `no calls that succeed for ${dialect.name}`);
    const png = await testPng(24, 16);
    await flow(call, dataUri(png), png);
  });
}
