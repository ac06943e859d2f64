/**
 * /openapi.json tells the truth: every operation it documents is called on the real server
 * (SQLite, files on disk, loopback HTTP), and each answer's status is one the document declares
 * for that operation, its content type one declared for that status, and its JSON body valid
 * against the declared schema. The calls below must cover exactly the document's operations,
 * and every route of the server must be in the document, with an id, a summary and described
 * responses, so a new route fails here until it is documented and called.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { receiver, until } from '../helpers/compat.js';
import { fillPath, type OpenApiDocument, operationsOf, routesOf, SpecChecker } from '../helpers/openapi.js';
import { fixturePath } from '../helpers/pytorch-fixtures.js';
import { dataUri, startTestService, type TestService, testPng } from '../helpers/service.js';

let svc: TestService;
let spec: OpenApiDocument;

before(async () => {
  svc = await startTestService({
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    PIXELIFT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    PIXELIFT_SSE_HEARTBEAT: '0.2',
  });
  spec = (await (await svc.call('/openapi.json')).json()) as OpenApiDocument;
});
after(() => svc.close(1000));

test('the document is OpenAPI 3.0 with a server, and every operation has an id, a summary and described responses', () => {
  assert.equal(spec.openapi, '3.0.3');
  assert.deepEqual(
    spec.servers.map((s: { url: string }) => s.url),
    ['/'],
  );
  const ids = new Set<string>();
  for (const op of operationsOf(spec)) {
    const [method, path] = op.split(' ') as [string, string];
    const o = spec.paths[path][method.toLowerCase()];
    assert.match(o.operationId ?? '', /^[a-z][A-Za-z]+$/, `${op} has no operationId`);
    assert.ok(!ids.has(o.operationId), `${op}: operationId ${o.operationId} is used twice`);
    ids.add(o.operationId);
    assert.ok(o.summary, `${op} has no summary`);
    assert.ok(o.tags?.length, `${op} has no tag`);
    const codes = Object.keys(o.responses);
    assert.ok(
      codes.some((c) => /^2/.test(c)),
      `${op} declares no success response`,
    );
    for (const [code, r] of Object.entries(
      o.responses as Record<string, { description: string; content?: object }>,
    )) {
      // A route without a response schema gets @fastify/swagger's placeholder and no content.
      assert.ok(r.content || r.description !== 'Default Response', `${op} ${code} is undescribed`);
    }
  }
  // Issue 17's lies, pinned: the success codes the routes really answer, the optional body,
  // the multipart upload.
  const successes = (o: { responses: object }) => Object.keys(o.responses).filter((c) => /^2/.test(c));
  assert.deepEqual(successes(spec.paths['/v1/jobs/{id}'].delete), ['204']);
  const redeliver = spec.paths['/v1/jobs/{id}/webhook/redeliver'].post;
  assert.deepEqual(successes(redeliver), ['202']);
  assert.equal(redeliver.requestBody.required, false);
  const upload = spec.paths['/v1/uploads'].post.requestBody.content;
  assert.deepEqual(Object.keys(upload), ['multipart/form-data', 'image/*', 'application/octet-stream']);
  assert.equal(upload['multipart/form-data'].schema.properties.file.format, 'binary');
  // A free-form object must say so, or generated clients type it as an empty record.
  const metadata =
    spec.paths['/v1/upscale'].post.requestBody.content['application/json'].schema.properties.metadata;
  assert.equal(metadata.additionalProperties, true);
});

/** Routes left out of /openapi.json on purpose: the page, the documents themselves. */
const UNDOCUMENTED = [
  'GET /',
  'GET /playground/{file}',
  'GET /openapi.json',
  // @fastify/swagger-ui's own routes.
  'GET /docs',
  'GET /docs*', // /docs/* as the route tree spells it
  'GET /docs/json',
  'GET /docs/yaml',
  'GET /docs/static/index.html',
  'GET /docs/static/swagger-initializer.js',
];

test('every route of the server is in the document (the compat dialects have their own)', () => {
  const routes = routesOf(svc.app).filter((r) => !r.split(' ')[1]!.startsWith('/compat/'));
  assert.ok(routes.includes('POST /v1/upscale') && routes.includes('GET /v1/jobs/{id}'), routes.join('\n'));
  const undocumented = routes.filter((r) => !UNDOCUMENTED.includes(r));
  assert.deepEqual(undocumented, operationsOf(spec));
});

test('every documented operation answers as documented on the real server', async (t) => {
  const check = new SpecChecker(spec);
  const call = async (
    method: string,
    path: string,
    params: Record<string, string> = {},
    init: RequestInit & { json?: unknown; query?: string } = {},
  ) => {
    const { query, ...rest } = init;
    const res = await svc.call(`${fillPath(path, params)}${query ? `?${query}` : ''}`, { ...rest, method });
    return check.check(method, path, res);
  };
  const png = await testPng(24, 16);
  const hook = await receiver(t);

  // Probes.
  assert.equal((await call('GET', '/healthz')).status, 200);
  assert.equal((await call('GET', '/readyz')).status, 200);
  assert.match((await call('GET', '/metrics')).text, /pixelift_/);
  const models = await call('GET', '/v1/models');
  assert.ok(models.json.data.some((m: { id: string }) => m.id === 'lanczos3'));

  // Uploads: multipart, raw bytes, and nothing.
  const form = new FormData();
  form.set('file', new Blob([png], { type: 'image/png' }), 'in.png');
  const upload = await call('POST', '/v1/uploads', {}, { body: form });
  assert.equal(upload.status, 201);
  const raw = await call('POST', '/v1/uploads', {}, { body: png, headers: { 'content-type': 'image/png' } });
  assert.equal(raw.status, 201);
  assert.equal((await call('POST', '/v1/uploads', {}, { body: new FormData() })).status, 400);

  // Estimate, and a request the schema refuses.
  const estimate = await call(
    'POST',
    '/v1/estimate',
    {},
    { json: { image: upload.json.id, model: 'lanczos3', scale: 2 } },
  );
  assert.equal(estimate.status, 200);
  assert.deepEqual([estimate.json.output.width, estimate.json.output.height], [48, 32]);
  const refused = await call('POST', '/v1/estimate', {}, { json: { image: upload.json.id, scale: '2' } });
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.code, 'invalid_argument');

  // A job held to its end (200), with a webhook and metadata.
  const done = await call(
    'POST',
    '/v1/upscale',
    {},
    {
      headers: { prefer: 'wait=60' },
      json: {
        image: upload.json.id,
        model: 'lanczos3',
        scale: 2,
        metadata: { order: 7, tags: ['a'] },
        webhook: { url: hook.url },
      },
    },
  );
  assert.equal(done.status, 200);
  assert.equal(done.json.status, 'succeeded');
  assert.deepEqual(done.json.metadata, { order: 7, tags: ['a'] });
  const job = done.json.id as string;

  // A multipart job, not waited for (202 while queued; 200 had it already ended).
  const mp = new FormData();
  mp.set('image', new Blob([png], { type: 'image/png' }), 'in.png');
  mp.set('model', 'lanczos3');
  mp.set('output', JSON.stringify({ type: 'base64' }));
  const queued = await call('POST', '/v1/upscale', {}, { body: mp });
  assert.ok([200, 202].includes(queued.status));
  const second = queued.json.id as string;
  const inline = await until(async () => {
    const j = await call('GET', '/v1/jobs/{id}', { id: second });
    return j.json.status === 'succeeded' ? j : undefined;
  });
  assert.ok(inline.json.result.base64.length > 0);
  assert.equal((await call('GET', '/v1/jobs/{id}', { id: 'job_nope' })).status, 404);

  // Lists, cancel (a finished job cannot be), events.
  const list = await call('GET', '/v1/jobs', {}, { query: 'limit=1' });
  assert.equal(list.json.data.length, 1);
  assert.equal(list.json.has_more, true);
  assert.equal((await call('GET', '/v1/jobs', {}, { query: 'limit=0' })).status, 400);
  const cancel = await call(
    'POST',
    '/v1/upscale',
    {},
    { json: { image: dataUri(png), model: 'realesrgan-x4plus', scale: 4 } },
  );
  const canceled = await call('POST', '/v1/jobs/{id}/cancel', { id: cancel.json.id });
  assert.ok([200, 409].includes(canceled.status), String(canceled.status));
  assert.equal((await call('POST', '/v1/jobs/{id}/cancel', { id: job })).status, 409);
  const history = await call(
    'GET',
    '/v1/jobs/{id}/events',
    { id: job },
    { signal: AbortSignal.timeout(30_000) },
  );
  assert.match(history.text, /event: completed/);
  const live = new AbortController();
  const stream = await svc.call('/v1/events', { signal: live.signal });
  assert.equal(stream.status, 200);
  live.abort();
  // The stream never ends; its status and type are checked, its (aborted) body is not.
  await check.check(
    'GET',
    '/v1/events',
    new Response('', { status: stream.status, headers: stream.headers }),
  );

  // Webhooks: the log once delivered, redelivery of the latest and of one named.
  const deliveries = await until(async () => {
    const d = await call('GET', '/v1/jobs/{id}/webhook/deliveries', { id: job });
    return d.json.data.some((x: { status: string }) => x.status === 'delivered') ? d : undefined;
  });
  const again = await call('POST', '/v1/jobs/{id}/webhook/redeliver', { id: job });
  assert.equal(again.status, 202);
  assert.equal(again.json.webhook_id, deliveries.json.data[0].webhook_id);
  const named = await call(
    'POST',
    '/v1/jobs/{id}/webhook/redeliver',
    { id: job },
    { json: { delivery_id: deliveries.json.data[0].id } },
  );
  assert.equal(named.status, 202);
  assert.equal(
    (await call('POST', '/v1/jobs/{id}/webhook/redeliver', { id: second })).status,
    409, // no webhook on that job
  );

  // The signed file: whole, a range, a range beyond it, a bad signature.
  const link = new URL(done.json.result.url as string);
  const fileParams = { id: link.pathname.split('/').pop()! };
  const query = link.searchParams.toString();
  const file = await call('GET', '/v1/files/{id}', fileParams, { query });
  assert.equal(file.contentType, 'image/png');
  assert.equal(
    (await call('GET', '/v1/files/{id}', fileParams, { query, headers: { range: 'bytes=0-9' } })).status,
    206,
  );
  assert.equal(
    (await call('GET', '/v1/files/{id}', fileParams, { query, headers: { range: 'bytes=999999-' } })).status,
    416,
  );
  assert.equal(
    (await call('GET', '/v1/files/{id}', fileParams, { query: 'expires=1&signature=x' })).status,
    403,
  );

  // Models over HTTP (open mode on loopback is an admin).
  const model = new FormData();
  model.set('id', 'contract-compact');
  model.set('file', new Blob([fs.readFileSync(fixturePath('srvgg-prelu-x4.legacy.pth'))]), 'compact.pth');
  const added = await call('POST', '/v1/models', {}, { body: model });
  assert.equal(added.status, 201);
  assert.equal(added.json.id, 'contract-compact');
  assert.equal((await call('DELETE', '/v1/models/{id}', { id: 'contract-compact' })).status, 200);
  assert.equal((await call('DELETE', '/v1/models/{id}', { id: 'contract-compact' })).status, 404);

  // Delete: 204 and no body, then 404.
  assert.equal((await call('DELETE', '/v1/jobs/{id}', { id: second })).status, 204);
  assert.equal((await call('DELETE', '/v1/jobs/{id}', { id: second })).status, 404);

  // Every documented operation was called, and answered a success at least once.
  assert.deepEqual([...check.seen.keys()].sort(), operationsOf(spec));
  for (const [op, statuses] of check.seen) {
    assert.ok(
      statuses.some((s) => s >= 200 && s < 300),
      `${op} never succeeded: ${statuses.join(', ')}`,
    );
  }
});
