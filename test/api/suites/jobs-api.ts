import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { serveLoopback } from '../../helpers/loopback.js';
import {
  dataUri,
  readSse,
  startTestService,
  type TestBackend,
  type TestService,
  testPng,
} from '../../helpers/service.js';

/** Runs against either backend: test/api/jobs-api.test.ts (embedded), test/api/scale-out/jobs-api.test.ts. */
export function jobsApiSuite(backend: TestBackend): void {
  let svc: TestService;
  let png: Buffer;

  before(async () => {
    svc = await startTestService(
      {
        PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
        PIXELIFT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        PIXELIFT_SSE_HEARTBEAT: '0.2',
      },
      backend,
    );
    png = await testPng(48, 32);
  });
  after(() => svc.close(1000));

  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
  type Json = Record<string, any>;
  const json = async (res: Response): Promise<Json> => (await res.json()) as Json;

  async function waitForStatus(id: string, statuses: string[], timeoutMs = 60_000): Promise<Json> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const job = await json(await svc.call(`/v1/jobs/${id}`));
      if (statuses.includes(job.status)) return job;
      if (Date.now() > end) throw new Error(`job ${id} still ${job.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('POST /v1/upscale with Prefer: wait returns 200 with the finished job, and its signed link serves the PNG', async () => {
    const res = await svc.call('/v1/upscale', {
      method: 'POST',
      headers: { prefer: 'wait=30' },
      json: { image: dataUri(png), model: 'lanczos3', scale: 2, metadata: { order: 7 } },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('preference-applied'), 'wait=30');
    const job = await json(res);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.progress, 1);
    assert.deepEqual(job.model, { requested: 'lanczos3', used: 'lanczos3', precision: 'fp32' });
    assert.deepEqual([job.input.width, job.input.height], [48, 32]);
    assert.deepEqual([job.output.width, job.output.height], [96, 64]);
    assert.deepEqual(job.metadata, { order: 7 });
    assert.ok(job.cost > 0);
    assert.ok(job.expires_at);
    const file = await fetch(job.result.url);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'image/png');
    const bytes = Buffer.from(await file.arrayBuffer());
    assert.equal(bytes.length, job.result.bytes);
    const meta = await sharp(bytes).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [96, 64, 'png']);

    // Ranges: resumable downloads get exactly the bytes asked for.
    const part = await fetch(job.result.url, { headers: { range: 'bytes=10-29' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-29/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(10, 30));
    const beyond = await fetch(job.result.url, { headers: { range: `bytes=${bytes.length + 5}-` } });
    assert.equal(beyond.status, 416);

    // A tampered or foreign signature is refused; so is the link without one.
    const tampered = new URL(job.result.url);
    tampered.searchParams.set('signature', `${tampered.searchParams.get('signature')!.slice(0, -2)}xx`);
    const refused = await fetch(tampered);
    assert.equal(refused.status, 403);
    assert.equal((await json(refused)).error.code, 'file_link_invalid');
    const other = new URL(job.result.url);
    other.searchParams.set('expires', String(Number(other.searchParams.get('expires')) + 1));
    assert.equal((await fetch(other)).status, 403);
  });

  test('without Prefer the answer is 202 with a Location, and polling the job reaches succeeded', async () => {
    const res = await svc.call('/v1/upscale', {
      method: 'POST',
      json: { image: png.toString('base64'), model: 'bicubic', scale: 1.5 },
    });
    assert.equal(res.status, 202);
    const job = await json(res);
    assert.equal(res.headers.get('location'), `/v1/jobs/${job.id}`);
    assert.ok(['queued', 'running', 'succeeded'].includes(job.status));
    assert.equal(typeof job.eta_seconds, 'number');
    const done = await waitForStatus(job.id, ['succeeded']);
    assert.deepEqual([done.output.width, done.output.height], [72, 48]);
    assert.ok(done.timings.run_ms >= 0);
  });

  test('output type base64 and data_uri carry the bytes inline', async () => {
    for (const type of ['base64', 'data_uri'] as const) {
      const res = await svc.call('/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=30' },
        json: {
          image: dataUri(png),
          model: 'lanczos3',
          scale: 2,
          output: { type, format: 'webp', quality: 80 },
        },
      });
      const job = await json(res);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      const b64 =
        type === 'base64' ? job.result.base64 : job.result.data_uri.replace(/^data:image\/webp;base64,/, '');
      const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
      assert.deepEqual([meta.width, meta.height, meta.format], [96, 64, 'webp']);
    }
  });

  test('multipart requests: the file part and string fields obey the JSON rules', async () => {
    const form = new FormData();
    form.set('image', new Blob([png], { type: 'image/png' }), 'in.png');
    form.set('model', 'lanczos3');
    form.set('scale', '3');
    form.set('output', JSON.stringify({ format: 'jpeg', quality: 90 }));
    const res = await svc.call('/v1/upscale', { method: 'POST', body: form, headers: { prefer: 'wait=30' } });
    const job = await json(res);
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.deepEqual([job.output.width, job.output.height, job.output.format], [144, 96, 'jpeg']);

    const bad = new FormData();
    bad.set('image', new Blob([png], { type: 'image/png' }), 'in.png');
    bad.set('scale', 'big');
    const refused = await svc.call('/v1/upscale', { method: 'POST', body: bad });
    assert.equal(refused.status, 400);
    const err = (await json(refused)).error;
    assert.equal(err.code, 'invalid_argument');
    assert.equal(err.param, 'scale');
  });

  test('uploads: an image stored once is used by id; an unknown id is 404 upload_not_found', async () => {
    const up = await svc.call('/v1/uploads', {
      method: 'POST',
      body: png,
      headers: { 'content-type': 'image/png' },
    });
    assert.equal(up.status, 201);
    const upload = await json(up);
    assert.match(upload.id, /^upl_/);
    assert.deepEqual([upload.width, upload.height, upload.format], [48, 32, 'png']);
    const res = await svc.call('/v1/upscale', {
      method: 'POST',
      headers: { prefer: 'wait=30' },
      json: { image: upload.id, model: 'lanczos3', scale: 2 },
    });
    const job = await json(res);
    assert.equal(job.status, 'succeeded');
    const missing = await svc.call('/v1/upscale', {
      method: 'POST',
      json: { image: 'upl_doesnotexist', model: 'lanczos3' },
    });
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).error.code, 'upload_not_found');
    const notImage = await svc.call('/v1/uploads', {
      method: 'POST',
      body: Buffer.from('hello, not an image'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(notImage.status, 422);
    assert.equal((await json(notImage)).error.code, 'image_unreadable');
  });

  test('Idempotency-Key: same body gives the same job marked replayed; another body is 422', async () => {
    const body = { image: dataUri(png), model: 'lanczos3', scale: 2 };
    const headers = { 'idempotency-key': 'order-1234' };
    const first = await json(await svc.call('/v1/upscale', { method: 'POST', headers, json: body }));
    const again = await svc.call('/v1/upscale', {
      method: 'POST',
      headers,
      json: { scale: 2, model: 'lanczos3', image: dataUri(png) },
    });
    const second = await json(again);
    assert.equal(second.id, first.id);
    assert.equal(second.replayed, true);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const reused = await svc.call('/v1/upscale', { method: 'POST', headers, json: { ...body, scale: 3 } });
    assert.equal(reused.status, 422);
    assert.equal((await json(reused)).error.code, 'idempotency_key_reused');
  });

  test('POST /v1/estimate sizes and prices a request without creating a job', async () => {
    const before = await json(await svc.call('/v1/jobs?limit=100'));
    const res = await svc.call('/v1/estimate', {
      method: 'POST',
      json: { image: dataUri(png), model: 'realesrgan-x4fast', width: 480, height: 480, fit: 'cover' },
    });
    assert.equal(res.status, 200);
    const e = await json(res);
    assert.deepEqual([e.output.width, e.output.height], [480, 480]);
    assert.equal(e.model.used, 'realesrgan-x4fast');
    // 0.2304 MP at the fast rate of 0.5 credits per MP, rounded up to the hundredth
    assert.equal(e.cost, 0.12);
    assert.ok(e.eta_seconds > 0);
    const after = await json(await svc.call('/v1/jobs?limit=100'));
    assert.equal(after.data.length, before.data.length);
    const tooBig = await svc.call('/v1/estimate', {
      method: 'POST',
      json: { image: dataUri(png), scale: 16, width: 10 },
    });
    assert.equal((await json(tooBig)).error.code, 'invalid_argument');
  });

  test('GET /v1/jobs pages with a cursor and filters by status', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const j = await json(
        await svc.call('/v1/upscale', {
          method: 'POST',
          headers: { prefer: 'wait=30' },
          json: { image: dataUri(png), model: 'lanczos3', scale: 1 + i / 10 },
        }),
      );
      ids.push(j.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Json = await json(
        await svc.call(`/v1/jobs?limit=2&status=succeeded${cursor ? `&cursor=${cursor}` : ''}`),
      );
      assert.ok(page.data.length <= 2);
      for (const j of page.data) {
        assert.equal(j.status, 'succeeded');
        seen.push(j.id);
      }
      cursor = page.next_cursor;
    } while (cursor);
    for (const id of ids) assert.ok(seen.includes(id));
    assert.equal(new Set(seen).size, seen.length, 'no job appears on two pages');
    assert.deepEqual(seen.slice(0, 3), [...ids].reverse(), 'newest first');
    const bad = await svc.call('/v1/jobs?limit=1000');
    assert.equal(bad.status, 400);
    assert.equal((await json(bad)).error.param, 'limit');
  });

  test('malformed requests get 4xx with a stable code and the field named', async () => {
    const cases: { body: string | undefined; type?: string; status: number; code: string; param?: string }[] =
      [
        { body: '{"image": ', status: 400, code: 'invalid_json' },
        { body: '{}', status: 400, code: 'invalid_argument', param: 'image' },
        {
          body: JSON.stringify({ image: dataUri(png), scale: '4' }),
          status: 400,
          code: 'invalid_argument',
          param: 'scale',
        },
        {
          body: JSON.stringify({ image: dataUri(png), scale: 40 }),
          status: 400,
          code: 'invalid_argument',
          param: 'scale',
        },
        {
          body: JSON.stringify({ image: dataUri(png), colour: 'red' }),
          status: 400,
          code: 'invalid_argument',
          param: 'colour',
        },
        {
          body: JSON.stringify({ image: dataUri(png), output: { format: 'bmp' } }),
          status: 400,
          code: 'invalid_argument',
          param: 'output.format',
        },
        {
          body: JSON.stringify({ image: dataUri(png), webhook: { events: ['completed'] } }),
          status: 400,
          code: 'invalid_argument',
          param: 'webhook.url',
        },
        {
          body: JSON.stringify({ image: dataUri(png), precision: 'fp16' }),
          status: 400,
          code: 'invalid_argument',
          param: 'precision',
        },
        {
          body: JSON.stringify({ image: dataUri(png), denoise: 2 }),
          status: 400,
          code: 'invalid_argument',
          param: 'denoise',
        },
        {
          body: JSON.stringify({ image: 'not an image, not base64!' }),
          status: 400,
          code: 'invalid_argument',
          param: 'image',
        },
        {
          body: JSON.stringify({ image: Buffer.from('plain text').toString('base64') }),
          status: 422,
          code: 'image_unreadable',
        },
        {
          body: JSON.stringify({ image: dataUri(png), model: 'no-such-model' }),
          status: 404,
          code: 'model_not_found',
        },
        {
          body: JSON.stringify({ image: dataUri(png), output: { ttl: 0 } }),
          status: 400,
          code: 'invalid_argument',
          param: 'output.ttl',
        },
        { body: 'image=abc', type: 'text/plain', status: 415, code: 'unsupported_media_type' },
      ];
    for (const c of cases) {
      const res = await svc.call('/v1/upscale', {
        method: 'POST',
        body: c.body,
        headers: { 'content-type': c.type ?? 'application/json' },
      });
      const body = await json(res);
      assert.equal(res.status, c.status, `${c.body}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, c.code, c.body);
      assert.equal(typeof body.error.message, 'string');
      if (c.param) assert.equal(body.error.param, c.param, c.body);
    }
    const notFound = await svc.call('/v1/nothing-here');
    assert.equal(notFound.status, 404);
    assert.equal((await json(notFound)).error.code, 'route_not_found');
    const noJob = await svc.call('/v1/jobs/job_nope');
    assert.equal((await json(noJob)).error.code, 'job_not_found');
  });

  test('SSE: a job stream replays history, goes live, ends after the final event; Last-Event-ID resumes', async () => {
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        json: { image: dataUri(png), model: 'lanczos3', scale: 2 },
      }),
    );
    const events = await readSse(`${svc.url}/v1/jobs/${job.id}/events`, {}, (e) => e.event === 'completed');
    const types = events.map((e) => e.event);
    assert.equal(types[0], 'queued');
    assert.ok(types.includes('started'));
    assert.equal(types.at(-1), 'completed');
    assert.equal(events.at(-1)!.data.status, 'succeeded');
    const ids = events.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'ids increase',
    );
    // Reconnect after the first event: only what came later.
    const resumed = await readSse(
      `${svc.url}/v1/jobs/${job.id}/events`,
      { headers: { 'last-event-id': String(ids[0]) } },
      (e) => e.event === 'completed',
    );
    assert.deepEqual(
      resumed.map((e) => e.id),
      ids.slice(1),
    );
  });

  test('SSE /v1/events streams every job live, with heartbeats, and resumes from Last-Event-ID', async () => {
    const controller = new AbortController();
    const res = await fetch(`${svc.url}/v1/events`, { signal: controller.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        json: { image: dataUri(png), model: 'lanczos3', scale: 2 },
      }),
    );
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes(`"id":"${job.id}"`) || !/event: completed/.test(text) || !text.includes(': ping')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    controller.abort();
    assert.match(text, /event: queued/);
    assert.match(text, /event: completed/);
    assert.match(text, /: ping/);
    const firstId = Number(/id: (\d+)\nevent: queued\ndata: .*"id":"job_/.exec(text)?.[1]);
    const replay = await readSse(
      `${svc.url}/v1/events`,
      { headers: { 'last-event-id': String(firstId) } },
      (e) => e.event === 'completed' && e.data.id === job.id,
    );
    assert.ok(replay.every((e) => e.id > firstId));
    assert.ok(replay.some((e) => e.event === 'started' && e.data.id === job.id));
  });

  /** A loopback receiver (closed with the test) that answers with the statuses given in turn (then 200). */
  async function receiver(t: TestContext, statuses: number[] = []) {
    const server = await serveLoopback(t, (_req, res) => {
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
    return {
      get got() {
        return server.received.map((r) => ({ ...r, body: r.body.toString('latin1') }));
      },
      url: `${server.origin}/hook`,
    };
  }

  test('webhooks: signed with Standard Webhooks, filtered by event, retried after 5xx, logged, redeliverable', async (t) => {
    const hook = await receiver(t, [503]);
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        json: {
          image: dataUri(png),
          model: 'lanczos3',
          scale: 2,
          webhook: { url: hook.url, events: ['started', 'completed'] },
        },
      }),
    );
    const end = Date.now() + 30_000;
    // started (503, retried after a backoff) and completed: three requests in all
    while (hook.got.length < 3 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const verifier = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const types = hook.got.map((g) => {
      const payload = verifier.verify(g.body, {
        'webhook-id': String(g.headers['webhook-id']),
        'webhook-timestamp': String(g.headers['webhook-timestamp']),
        'webhook-signature': String(g.headers['webhook-signature']),
      }) as Json;
      assert.equal(payload.data.id, job.id);
      return payload.type;
    });
    // The first delivery got 503 and was retried; nothing outside the filter was sent.
    assert.ok(types.includes('job.completed'));
    assert.ok(
      types.every((t) => t === 'job.started' || t === 'job.completed'),
      types.join(),
    );
    assert.equal(types.length, 3, types.join());
    assert.throws(() =>
      verifier.verify(`${hook.got[0]!.body} `, {
        'webhook-id': String(hook.got[0]!.headers['webhook-id']),
        'webhook-timestamp': String(hook.got[0]!.headers['webhook-timestamp']),
        'webhook-signature': String(hook.got[0]!.headers['webhook-signature']),
      }),
    );
    const log = await json(await svc.call(`/v1/jobs/${job.id}/webhook/deliveries`));
    assert.equal(log.data.length, 2);
    const retried = log.data.find((d: Json) => d.attempts.length === 2);
    assert.ok(retried, JSON.stringify(log.data));
    assert.deepEqual(
      retried.attempts.map((a: Json) => a.status_code),
      [503, 200],
    );
    assert.ok(log.data.every((d: Json) => d.status === 'delivered'));

    const completed = log.data.find((d: Json) => d.event === 'completed');
    const re = await svc.call(`/v1/jobs/${job.id}/webhook/redeliver`, {
      method: 'POST',
      json: { delivery_id: completed.id },
    });
    assert.equal(re.status, 202);
    const before = hook.got.length;
    while (hook.got.length === before && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const last = hook.got.at(-1)!;
    assert.equal(last.headers['webhook-id'], completed.webhook_id, 'a redelivery keeps the webhook-id');
  });

  test('webhooks: a 4xx answer is not retried', async (t) => {
    const hook = await receiver(t, [410]);
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=30' },
        json: { image: dataUri(png), model: 'lanczos3', webhook: { url: hook.url } },
      }),
    );
    const end = Date.now() + 10_000;
    let log: Json;
    do {
      await new Promise((r) => setTimeout(r, 100));
      log = await json(await svc.call(`/v1/jobs/${job.id}/webhook/deliveries`));
    } while (log.data[0]?.status !== 'failed' && Date.now() < end);
    assert.equal(log.data[0].status, 'failed');
    assert.equal(log.data[0].attempts.length, 1);
    assert.equal(hook.got.length, 1);
  });

  test('output.upload_url receives a PUT of the result bytes', async (t) => {
    const sink = await receiver(t);
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=30' },
        json: { image: dataUri(png), model: 'lanczos3', scale: 2, output: { upload_url: sink.url } },
      }),
    );
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    const put = sink.got.find((g) => g.method === 'PUT');
    assert.ok(put);
    assert.equal(put.headers['content-type'], 'image/png');
    const meta = await sharp(Buffer.from(put.body, 'latin1')).metadata();
    assert.deepEqual([meta.width, meta.height], [96, 64]);
  });

  test('a result past its TTL is swept: the job becomes expired and its link answers 404', async () => {
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=30' },
        json: { image: dataUri(png), model: 'lanczos3', output: { ttl: 60 } },
      }),
    );
    assert.equal(job.status, 'succeeded');
    assert.equal((await fetch(job.result.url)).status, 200);
    const swept = await svc.sweep(new Date(Date.now() + 61_000));
    assert.ok(swept.results >= 1);
    const after = await json(await svc.call(`/v1/jobs/${job.id}`));
    assert.equal(after.status, 'expired');
    assert.equal(after.result, null);
    const gone = await fetch(job.result.url);
    assert.equal(gone.status, 404);
    assert.equal((await json(gone)).error.code, 'file_not_found');
  });

  test('DELETE /v1/jobs/:id removes the job and its file', async () => {
    const job = await json(
      await svc.call('/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=30' },
        json: { image: dataUri(png), model: 'lanczos3' },
      }),
    );
    const del = await svc.call(`/v1/jobs/${job.id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await svc.call(`/v1/jobs/${job.id}`)).status, 404);
    assert.equal((await fetch(job.result.url)).status, 404);
  });

  test('precision: an int8 job says so on the record and its output stays close to fp32; auto follows /v1/models; int8 of a classical model is 422 precision_unsupported', async () => {
    const small = await testPng(24, 16);
    const run = async (fields: Json) => {
      const res = await svc.call('/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=120' },
        json: { image: dataUri(small), model: 'realesrgan-x4fast', ...fields },
      });
      const job = await json(res);
      assert.equal(job.status, 'succeeded', JSON.stringify(job));
      const stored = await json(await svc.call(`/v1/jobs/${job.id}`));
      assert.deepEqual(stored.model, job.model); // the stored record, not just the answer
      const img = await sharp(Buffer.from(await (await fetch(job.result.url)).arrayBuffer()))
        .raw()
        .toBuffer();
      return { job, img };
    };
    const int8 = await run({ precision: 'int8' });
    assert.deepEqual(int8.job.model, {
      requested: 'realesrgan-x4fast',
      used: 'realesrgan-x4fast',
      precision: 'int8',
    });
    const fp32 = await run({ precision: 'fp32' });
    assert.equal(fp32.job.model.precision, 'fp32');
    // Really another network (the int8 file ran), and a close one.
    assert.notDeepEqual(int8.img, fp32.img);
    assert.ok(psnr(int8.img, fp32.img) > 25, `int8 vs fp32: ${psnr(int8.img, fp32.img).toFixed(1)} dB`);

    // No precision: the server default (PIXELIFT_PRECISION unset: auto) runs what /v1/models says.
    const models = await json(await svc.call('/v1/models'));
    const listed = models.data.find((m: Json) => m.id === 'realesrgan-x4fast');
    assert.equal(listed.precision.int8, true);
    const auto = await run({});
    assert.equal(auto.job.model.precision, listed.precision.auto);
    assert.deepEqual(models.data.find((m: Json) => m.id === 'lanczos3').precision, {
      int8: false,
      auto: 'fp32',
    });

    const refused = await svc.call('/v1/upscale', {
      method: 'POST',
      json: { image: dataUri(small), model: 'lanczos3', precision: 'int8' },
    });
    assert.equal(refused.status, 422);
    assert.equal((await json(refused)).error.code, 'precision_unsupported');
    // auto (and fp32) work for every model.
    const classical = await svc.call('/v1/upscale', {
      method: 'POST',
      headers: { prefer: 'wait=30' },
      json: { image: dataUri(small), model: 'lanczos3', precision: 'auto' },
    });
    assert.equal((await json(classical)).model.precision, 'fp32');
  });

  test('/v1/models, /healthz, /readyz, /metrics, /openapi.json and /docs answer', async () => {
    const models = await json(await svc.call('/v1/models'));
    const ids = models.data.map((m: Json) => m.id);
    for (const id of ['realesrgan-x4plus', 'realesrgan-x4fast', 'rrdn-thick', 'lanczos3', 'bicubic'])
      assert.ok(ids.includes(id), id);
    assert.equal(models.data.filter((m: Json) => m.default).length, 1);
    assert.ok(models.data.find((m: Json) => m.id === 'realesrgan-x4plus').aliases.length > 0);
    assert.deepEqual(await json(await svc.call('/healthz')), { status: 'ok' });
    const ready = await svc.call('/readyz');
    assert.equal(ready.status, 200);
    const metrics = await (await svc.call('/metrics')).text();
    assert.match(metrics, /pixelift_jobs\{status="succeeded"\} [1-9]/);
    assert.match(
      metrics,
      /pixelift_http_request_duration_seconds_count\{method="POST",route="\/v1\/upscale"/,
    );
    assert.match(metrics, /pixelift_nodejs_eventloop_lag_seconds/);
    const spec = await json(await svc.call('/openapi.json'));
    assert.equal(spec.openapi, '3.0.3');
    for (const p of [
      '/v1/upscale',
      '/v1/jobs/{id}',
      '/v1/jobs',
      '/v1/uploads',
      '/v1/estimate',
      '/v1/files/{id}',
      '/v1/events',
    ]) {
      assert.ok(spec.paths[p], p);
    }
    assert.ok(spec.paths['/v1/upscale'].post.requestBody.content['application/json'].schema.properties.image);
    const docs = await svc.call('/docs/');
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
  });
}

/** PSNR of two 8-bit buffers of the same length, dB. */
function psnr(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / (se / a.length));
}
