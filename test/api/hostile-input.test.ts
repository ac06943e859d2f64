/**
 * Issue 16's bounded inputs, over real HTTP: oversized or deeply nested metadata, malformed
 * multipart, too many parts, wrong media types. Each answer is a 4xx with a stable code whose
 * message has no hole in it, never a 500 `internal` (documented as retryable, so clients retry).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileSafetyHeaders } from '../../src/api/routes/files.js';
import { METADATA_LIMITS } from '../../src/jobs/metadata.js';
import { dataUri, startTestService, type TestService, testPng } from '../helpers/service.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;

let svc: TestService;
let png: Buffer;
before(async () => {
  svc = await startTestService({ PIXELIFT_API_KEYS: 'pk_hostile' });
  png = await testPng();
});
after(() => svc.close(0));

const auth = { authorization: 'Bearer pk_hostile' };

async function post(
  path: string,
  body: string | Buffer,
  type?: string,
): Promise<{ status: number; body: Json }> {
  const res = await svc.call(path, {
    method: 'POST',
    headers: { ...auth, ...(type ? { 'content-type': type } : {}) },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Json };
}

/** A message that still holds a `{placeholder}` or a stand-in where a value belongs. */
function assertWhole(message: unknown): void {
  assert.equal(typeof message, 'string');
  assert.doesNotMatch(message as string, /\{\w+\}|the limit of bytes|Content-Type "this"/);
}

/** `{"a":{"a":…{}}}` nested `depth` deep, as text: JSON.stringify itself overflows at 10,000. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;

test('metadata nested 10,000 deep is 400 invalid_argument on the native API and on Runflow, not 500', async () => {
  const image = JSON.stringify(dataUri(png));
  const native = await post(
    '/v1/upscale',
    `{"image":${image},"model":"lanczos3","metadata":${nested(10_000)}}`,
    'application/json',
  );
  assert.equal(native.status, 400, JSON.stringify(native.body));
  assert.equal(native.body.error.code, 'invalid_argument');
  assert.equal(native.body.error.param, 'metadata');
  const runflow = await post(
    '/compat/runflow/v1/models/topaz/upscale/image/runs',
    `{"input":{"image_url":${image}},"metadata":${nested(10_000)}}`,
    'application/json',
  );
  assert.equal(runflow.status, 400, JSON.stringify(runflow.body));
  assert.equal(runflow.body.code, 'INPUT_VALIDATION_FAILED');
  assert.equal(runflow.body.errors[0].field, 'metadata');
});

test(`metadata is capped at ${METADATA_LIMITS.maxBytes} bytes, ${METADATA_LIMITS.maxDepth} levels and ${METADATA_LIMITS.maxKeys} keys; within them it is kept, out of events`, async () => {
  const tooBig = { blob: 'x'.repeat(METADATA_LIMITS.maxBytes) };
  const tooManyKeys = Object.fromEntries(
    Array.from({ length: METADATA_LIMITS.maxKeys + 1 }, (_, i) => [`k${i}`, i]),
  );
  const tooDeep = JSON.parse(nested(METADATA_LIMITS.maxDepth)) as object;
  for (const [label, metadata] of [
    ['size', tooBig],
    ['keys', tooManyKeys],
    ['depth', tooDeep],
    ['an array', [1, 2]],
  ] as const) {
    const res = await post(
      '/v1/upscale',
      JSON.stringify({ image: dataUri(png), model: 'lanczos3', metadata }),
      'application/json',
    );
    assert.equal(res.status, 400, `${label}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.param, 'metadata', label);
    assertWhole(res.body.error.message);
  }
  const fits = { order: 1234, note: 'y'.repeat(METADATA_LIMITS.maxBytes - 100) };
  const ok = await svc.call('/v1/upscale', {
    method: 'POST',
    headers: { ...auth, prefer: 'wait=30' },
    json: { image: dataUri(png), model: 'lanczos3', metadata: fits },
  });
  const job = (await ok.json()) as Json;
  assert.equal(job.status, 'succeeded', JSON.stringify(job).slice(0, 300));
  assert.deepEqual(job.metadata, fits);
  // The events of the job no longer repeat it: four events, one copy (on the job).
  const stores = await svc.openStores();
  try {
    const events = await stores.events.since({ afterId: 0, jobId: job.id });
    assert.ok(events.length >= 3, `${events.length} events`);
    for (const e of events) assert.equal('metadata' in e.data, false, `${e.type} carries metadata`);
  } finally {
    await stores.close();
  }
});

test('malformed multipart on /v1/upscale, /v1/estimate and /v1/uploads is 400 multipart_invalid', async () => {
  const boundary = 'pixelift-boundary';
  const type = `multipart/form-data; boundary=${boundary}`;
  const truncated = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${png.subarray(0, 40).toString('latin1')}`;
  for (const path of ['/v1/upscale', '/v1/estimate', '/v1/uploads']) {
    for (const [label, body] of [
      ['a part cut short', Buffer.from(truncated, 'latin1')],
      ['a body without its boundary', Buffer.from('this is not multipart at all')],
    ] as const) {
      const res = await post(path, body, type);
      assert.equal(res.status, 400, `${path} ${label}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'multipart_invalid', `${path} ${label}`);
      assertWhole(res.body.error.message);
    }
  }
});

test('multipart with two files, 100 fields or a 2 MB field is a 400 naming the limit, not 413 on a tiny body', async () => {
  const twoFiles = new FormData();
  twoFiles.append('image', new Blob([png], { type: 'image/png' }), 'a.png');
  twoFiles.append('file', new Blob([png], { type: 'image/png' }), 'b.png');
  const manyFields = new FormData();
  manyFields.append('image', new Blob([png], { type: 'image/png' }), 'a.png');
  for (let i = 0; i < 100; i++) manyFields.append(`f${i}`, 'x');
  const longField = new FormData();
  longField.append('image', new Blob([png], { type: 'image/png' }), 'a.png');
  longField.append('metadata', JSON.stringify({ note: 'z'.repeat(2 * 1024 * 1024) }));
  for (const [label, form, param, says] of [
    ['two files', twoFiles, 'files', /at most 1 file \(the image\)/],
    ['100 fields', manyFields, 'fields', /at most 50 fields/],
    ['a 2 MB field', longField, 'metadata', /"metadata" is longer than the limit of 1048576 bytes/],
  ] as const) {
    const res = await svc.call('/v1/upscale', { method: 'POST', headers: auth, body: form });
    const body = (await res.json()) as Json;
    assert.equal(res.status, 400, `${label}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, 'invalid_argument', label);
    assert.equal(body.error.param, param, label);
    assert.match(body.error.message, says, label);
  }
});

test('a body over the limit names the limit in bytes; a wrong Content-Type is 415 naming it, natively and in the dialects', async () => {
  const big = await post(
    '/v1/upscale',
    Buffer.alloc(svc.config.limits.maxInputBytes * 2, 0x20),
    'application/json',
  );
  assert.equal(big.status, 413);
  assert.equal(big.body.error.code, 'body_too_large');
  assert.equal(typeof big.body.error.details.limit, 'number');
  assert.match(big.body.error.message, new RegExp(`larger than ${big.body.error.details.limit} bytes`));

  for (const path of ['/v1/upscale', '/v1/estimate', '/v1/uploads']) {
    const res = await post(path, 'image=abc', 'text/plain');
    assert.equal(res.status, 415, `${path}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, 'unsupported_media_type', path);
    assert.match(res.body.error.message, /Unsupported Content-Type "text\/plain"/, path);
  }
  const runflow = await post('/compat/runflow/v1/models/topaz/upscale/image/runs', 'hi', 'text/plain');
  assert.equal(runflow.status, 415, JSON.stringify(runflow.body));
  assert.match(runflow.body.message, /text\/plain/);
  const runware = await post('/compat/runware/v1', 'hi', 'text/plain');
  assert.equal(runware.status, 415, JSON.stringify(runware.body));
  assert.match(runware.body.errors[0].message, /text\/plain/);
});

test('Runware names the field a refusal is about; Runflow answers an unknown route with a documented code', async () => {
  const task = (extra: Record<string, unknown>) =>
    JSON.stringify([
      {
        taskType: 'upscale',
        taskUUID: '0d1f6f5e-6b7a-4d3c-9e2f-1a2b3c4d5e6f',
        inputImage: dataUri(png),
        model: 'runware:503@1',
        upscaleFactor: 2,
        ...extra,
      },
    ]);
  for (const [extra, parameter, code] of [
    [{ webhookURL: 'ftp://example.com/hook' }, 'webhookURL', 'invalidWebhookURL'],
    [{ uploadEndpoint: 'http://127.0.0.1/put' }, 'uploadEndpoint', 'invalidUploadEndpoint'],
    [{ inputImage: 'data:image/png;base64,@@@' }, 'inputImage', 'invalidInputImage'],
  ] as const) {
    const res = await post('/compat/runware/v1', task(extra), 'application/json');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.errors[0].parameter, parameter);
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body));
  }
  const unknown = await svc.call('/compat/runflow/v1/nope', { headers: auth });
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as Json).code, 'RUN_NOT_FOUND');
});

const SVG = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="16"><rect width="24" height="16" fill="#c33"/><script>alert(1)</script></svg>',
);

test('SVG input is refused with 422 image_format_refused on jobs and uploads unless PIXELIFT_ALLOW_SVG=true', async () => {
  const job = await post(
    '/v1/upscale',
    JSON.stringify({ image: `data:image/svg+xml;base64,${SVG.toString('base64')}`, model: 'lanczos3' }),
    'application/json',
  );
  assert.equal(job.status, 422, JSON.stringify(job.body));
  assert.equal(job.body.error.code, 'image_format_refused');
  assert.match(job.body.error.message, /PIXELIFT_ALLOW_SVG=true/);
  const upload = await post('/v1/uploads', SVG, 'image/svg+xml');
  assert.equal(upload.status, 422, JSON.stringify(upload.body));
  assert.equal(upload.body.error.code, 'image_format_refused');

  const allowing = await startTestService({ PIXELIFT_ALLOW_SVG: 'true' });
  try {
    const res = await allowing.call('/v1/uploads', {
      method: 'POST',
      headers: { 'content-type': 'image/svg+xml' },
      body: SVG,
    });
    const body = (await res.json()) as Json;
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(body.format, 'svg');
    assert.equal(body.content_type, 'image/svg+xml');
  } finally {
    await allowing.close(0);
  }
});

test('file responses carry nosniff, a sandbox CSP and a safe Content-Disposition: inline only for raster images', async () => {
  const res = await svc.call('/v1/upscale', {
    method: 'POST',
    headers: { ...auth, prefer: 'wait=30' },
    json: { image: dataUri(png), model: 'lanczos3' },
  });
  const job = (await res.json()) as Json;
  assert.equal(job.status, 'succeeded');
  const file = await fetch(job.result.url);
  assert.equal(file.status, 200);
  assert.equal(file.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(file.headers.get('content-security-policy'), "default-src 'none'; sandbox");
  assert.equal(file.headers.get('content-disposition'), `inline; filename="${job.id}.png"`);
  const ranged = await fetch(job.result.url, { headers: { range: 'bytes=0-9' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('x-content-type-options'), 'nosniff');

  const svgHeaders = fileSafetyHeaders('upl_abc', 'svg', 'image/svg+xml');
  assert.equal(svgHeaders['content-disposition'], 'attachment; filename="upl_abc.svg"');
  const odd = fileSafetyHeaders('upl_a"b', 'x;y', 'application/octet-stream');
  assert.equal(odd['content-disposition'], 'attachment; filename="upl_a_b.x_y"');
});

test('/readyz says which check failed and why', async () => {
  const own = await startTestService({});
  try {
    assert.equal((await own.call('/readyz')).status, 200);
    const blobs = path.join(own.dataDir, 'blobs');
    fs.renameSync(blobs, `${blobs}.away`);
    const res = await own.call('/readyz');
    const body = (await res.json()) as Json;
    assert.equal(res.status, 503);
    assert.equal(body.checks.blobs, false);
    assert.equal(body.checks.database, true);
    assert.match(body.errors.blobs, /blob directory .* is missing/);
    assert.equal('database' in body.errors, false);
    fs.renameSync(`${blobs}.away`, blobs);
  } finally {
    await own.close(0);
  }
});
