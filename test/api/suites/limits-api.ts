/** Auth, credits, rate limits, queue depth, per-key concurrency and hostile inputs, over real HTTP. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import sharp from 'sharp';
import { pngClaiming } from '../../helpers/images.js';
import {
  dataUri,
  startTestService,
  type TestBackend,
  type TestService,
  testPng,
} from '../../helpers/service.js';

/** Runs against either backend: test/api/limits-api.test.ts (embedded), test/api/scale-out/limits-api.test.ts. */
export function limitsApiSuite(backend: TestBackend): void {
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
  type Json = Record<string, any>;
  const json = async (res: Response): Promise<Json> => (await res.json()) as Json;

  async function credits(svc: TestService, secret: string): Promise<number | null | undefined> {
    const s = await svc.openStores();
    try {
      return (await s.keys.authenticate(secret))?.credits;
    } finally {
      await s.close();
    }
  }

  async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  test('with keys configured every API route needs one: Bearer, X-API-Key or Basic; keys see only their own jobs', async () => {
    const svc = await startTestService({ PIXELIFT_API_KEYS: 'pk_alpha,pk_beta' }, backend);
    try {
      const png = await testPng();
      for (const p of ['/v1/jobs', '/v1/models', '/v1/events']) {
        const res = await svc.call(p);
        assert.equal(res.status, 401, p);
        assert.equal((await json(res)).error.code, 'unauthorized');
      }
      assert.equal(
        (await svc.call('/v1/jobs', { headers: { authorization: 'Bearer pk_wrong' } })).status,
        401,
      );
      assert.equal((await svc.call('/healthz')).status, 200, 'probes stay open');
      assert.equal((await svc.call('/metrics')).status, 200);
      for (const headers of [
        { authorization: 'Bearer pk_alpha' } as Record<string, string>,
        { 'x-api-key': 'pk_alpha' },
        { authorization: `Basic ${Buffer.from('pk_alpha:').toString('base64')}` },
      ]) {
        assert.equal((await svc.call('/v1/models', { headers })).status, 200, JSON.stringify(headers));
      }
      const job = await json(
        await svc.call('/v1/upscale', {
          method: 'POST',
          headers: { authorization: 'Bearer pk_alpha', prefer: 'wait=30' },
          json: { image: dataUri(png), model: 'lanczos3' },
        }),
      );
      assert.equal(job.status, 'succeeded');
      const asBeta = await svc.call(`/v1/jobs/${job.id}`, { headers: { authorization: 'Bearer pk_beta' } });
      assert.equal(asBeta.status, 404);
      const betaList = await json(
        await svc.call('/v1/jobs', { headers: { authorization: 'Bearer pk_beta' } }),
      );
      assert.equal(betaList.data.length, 0);
      // The signed link needs no key: it is the credential.
      assert.equal((await fetch(job.result.url)).status, 200);
    } finally {
      await svc.close(1000);
    }
  });

  test('credits: charged at submission by output megapixels, 402 when short (nothing charged), refunded when the job fails', async () => {
    const svc = await startTestService(
      {
        PIXELIFT_API_KEYS: 'pk_paying:1',
        PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
      },
      backend,
    );
    const auth = { authorization: 'Bearer pk_paying' };
    try {
      const png = await testPng(512, 512);
      // realesrgan-x4fast at 4x: 2048x2048 = 4.19 MP at 0.5 credits/MP = 2.10 credits > 1
      const short = await svc.call('/v1/upscale', {
        method: 'POST',
        headers: auth,
        json: { image: dataUri(png), model: 'realesrgan-x4fast' },
      });
      assert.equal(short.status, 402);
      const err = (await json(short)).error;
      assert.equal(err.code, 'insufficient_credits');
      assert.equal(err.details.cost, 2.1);
      assert.equal(await credits(svc, 'pk_paying'), 1);

      // lanczos3 1024x1024 = 1.05 MP at 0.1/MP = 0.11 credits; the PUT target refuses, so the job fails.
      const job = await json(
        await svc.call('/v1/upscale', {
          method: 'POST',
          headers: { ...auth, prefer: 'wait=30' },
          json: {
            image: dataUri(png),
            model: 'lanczos3',
            scale: 2,
            output: { upload_url: 'http://127.0.0.1:9/nothing' },
          },
        }),
      );
      assert.equal(job.cost, 0.11);
      assert.equal(job.status, 'failed', JSON.stringify(job));
      assert.equal(job.error.code, 'upload_failed');
      assert.equal(job.refunded, true);
      assert.equal(await credits(svc, 'pk_paying'), 1);

      const ok = await json(
        await svc.call('/v1/upscale', {
          method: 'POST',
          headers: { ...auth, prefer: 'wait=30' },
          json: { image: dataUri(png), model: 'lanczos3', scale: 2 },
        }),
      );
      assert.equal(ok.status, 'succeeded');
      assert.equal(await credits(svc, 'pk_paying'), 0.89);
    } finally {
      await svc.close(1000);
    }
  });

  test('rate limit: past the per-key limit, 429 with Retry-After and X-RateLimit-* headers', async () => {
    const svc = await startTestService({ PIXELIFT_RATE_LIMIT: '5' }, backend);
    try {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 7; i++) {
        last = await svc.call('/v1/models');
        statuses.push(last.status);
        if (last.status === 200) assert.equal(last.headers.get('x-ratelimit-limit'), '5');
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
      assert.ok(Number(last!.headers.get('retry-after')) > 0);
      assert.equal(last!.headers.get('x-ratelimit-remaining'), '0');
      assert.equal((await json(last!)).error.code, 'rate_limited');
    } finally {
      await svc.close(1000);
    }
  });

  test('fairness: key A floods, is capped at its share of the queue (429 key_queue_full), and key B’s job starts next, within one job-time', async () => {
    const svc = await startTestService(
      { PIXELIFT_API_KEYS: 'pk_flood,pk_other', PIXELIFT_MAX_QUEUED_PER_KEY: '3', PIXELIFT_WORKERS: '1' },
      backend,
    );
    try {
      const image = dataUri(await testPng(192, 192));
      const submit = (key: string) =>
        svc.call('/v1/upscale', {
          method: 'POST',
          headers: { authorization: `Bearer ${key}` },
          json: { image, model: 'realesrgan-x4fast' },
        });
      const get = async (id: string, key: string) =>
        json(await svc.call(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } }));
      const flood: string[] = [];
      const refused: Json[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await submit('pk_flood');
        if (res.status === 202) flood.push((await json(res)).id);
        else {
          assert.equal(res.status, 429);
          assert.ok(Number(res.headers.get('retry-after')) > 0);
          refused.push(await json(res));
        }
      }
      assert.ok(refused.length >= 4, `${refused.length} of 8 refused`);
      assert.equal(refused[0]!.error.code, 'key_queue_full');
      // B is not held back by A's share: accepted, and run as soon as the running job ends.
      const res = await submit('pk_other');
      assert.equal(res.status, 202);
      const b = (await json(res)).id as string;
      const waitingA = [];
      for (const id of flood) if ((await get(id, 'pk_flood')).status === 'queued') waitingA.push(id);
      assert.ok(waitingA.length >= 2, `${waitingA.length} of A's jobs still waiting`);
      await until(async () => (await get(b, 'pk_other')).status === 'succeeded', 120_000);
      await until(async () => {
        for (const id of flood) if ((await get(id, 'pk_flood')).status !== 'succeeded') return false;
        return true;
      }, 180_000);
      const bStarted = Date.parse((await get(b, 'pk_other')).started_at);
      for (const id of waitingA) {
        const a = await get(id, 'pk_flood');
        assert.ok(Date.parse(a.started_at) > bStarted, `A's waiting job ${id} started after B's`);
      }
    } finally {
      await svc.close(1000);
    }
  });

  test('the rate limit counts each task of a batch; a batch over PIXELIFT_MAX_TASKS_PER_REQUEST is refused', async () => {
    const svc = await startTestService(
      { PIXELIFT_RATE_LIMIT: '5', PIXELIFT_MAX_TASKS_PER_REQUEST: '4' },
      backend,
    );
    try {
      const image = dataUri(await testPng(16, 16));
      const uploads = (n: number) =>
        Array.from({ length: n }, () => ({ taskType: 'imageUpload', taskUUID: randomUUID(), image }));
      const first = await svc.call('/compat/runware/v1', { method: 'POST', json: uploads(3) });
      assert.equal(first.status, 200, await first.clone().text());
      assert.equal(first.headers.get('x-ratelimit-remaining'), '2', 'three tasks cost three');
      const second = await svc.call('/compat/runware/v1', { method: 'POST', json: uploads(3) });
      assert.equal(second.status, 429);
      assert.equal((await json(second)).errors[0].code, 'rateLimitExceeded');
    } finally {
      await svc.close(1000);
    }
    const capped = await startTestService({ PIXELIFT_MAX_TASKS_PER_REQUEST: '4' }, backend);
    try {
      const image = dataUri(await testPng(16, 16));
      const tasks = Array.from({ length: 5 }, () => ({
        taskType: 'imageUpload',
        taskUUID: randomUUID(),
        image,
      }));
      const res = await capped.call('/compat/runware/v1', { method: 'POST', json: tasks });
      assert.equal(res.status, 400);
      const body = await json(res);
      assert.equal(body.errors[0].code, 'invalidTaskArray');
      assert.match(body.errors[0].message, /at most 4/);
    } finally {
      await capped.close(1000);
    }
  });

  test('back-pressure: queue depth → 503 queue_full with Retry-After; the per-key cap queues rather than rejects; cancel stops the worker', async () => {
    const svc = await startTestService(
      {
        PIXELIFT_MAX_QUEUE_DEPTH: '1',
        PIXELIFT_MAX_JOBS_PER_KEY: '1',
        PIXELIFT_WORKERS: '2',
      },
      backend,
    );
    try {
      const heavy = dataUri(await testPng(512, 512));
      const submit = async () =>
        svc.call('/v1/upscale', { method: 'POST', json: { image: heavy, model: 'realesrgan-x4fast' } });
      const a = await json(await submit());
      await until(async () => (await json(await svc.call(`/v1/jobs/${a.id}`))).status === 'running');
      const b = await json(await submit());
      const c = await submit();
      assert.equal(c.status, 503);
      assert.ok(Number(c.headers.get('retry-after')) > 0);
      assert.equal((await json(c)).error.code, 'queue_full');
      // Two workers, but one key may run one job at a time: b waits.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await json(await svc.call(`/v1/jobs/${b.id}`))).status, 'queued');

      const t0 = Date.now();
      const canceled = await json(await svc.call(`/v1/jobs/${a.id}/cancel`, { method: 'POST' }));
      assert.equal(canceled.status, 'canceled');
      assert.equal(canceled.error.code, 'canceled');
      await until(async () => (await json(await svc.call(`/v1/jobs/${b.id}`))).status === 'running');
      assert.ok(Date.now() - t0 < 5000, 'the next job starts as soon as the canceled one stops');
      const again = await svc.call(`/v1/jobs/${a.id}/cancel`, { method: 'POST' });
      assert.equal(again.status, 409);
      assert.equal((await json(again)).error.code, 'job_not_cancelable');
      await svc.call(`/v1/jobs/${b.id}/cancel`, { method: 'POST' });
      const stillA = await json(await svc.call(`/v1/jobs/${a.id}`));
      assert.equal(stillA.status, 'canceled', 'a canceled job never turns into succeeded');
    } finally {
      await svc.close(1000);
    }
  });

  test('hostile image URLs are refused before any connection: loopback, private, link-local, unspecified, mapped, metadata', async () => {
    const svc = await startTestService({}, backend);
    try {
      const forbidden = [
        'http://127.0.0.1:8080/a.png',
        'http://localhost/a.png',
        'http://10.1.2.3/a.png',
        'http://192.168.0.10/a.png',
        'http://172.16.5.4/a.png',
        'http://169.254.169.254/latest/meta-data/',
        'http://metadata.google.internal/computeMetadata/v1/',
        'http://0.0.0.0/a.png',
        'http://[::]/a.png',
        'http://[::1]/a.png',
        'http://[::ffff:127.0.0.1]/a.png',
        'http://[fe80::1]/a.png',
        'http://2130706433/a.png', // 127.0.0.1 as one number
        'http://0x7f.1/a.png',
      ];
      for (const url of forbidden) {
        const res = await svc.call('/v1/upscale', { method: 'POST', json: { image: url } });
        const body = await json(res);
        assert.equal(res.status, 400, `${url}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, 'url_forbidden', url);
        assert.equal(body.error.param, 'image', url);
      }
      for (const [url, code] of [
        ['http://user:pw@example.com/a.png', 'url_invalid'],
        ['ftp://example.com/a.png', 'invalid_argument'],
        ['file:///etc/passwd', 'invalid_argument'],
      ] as const) {
        const res = await svc.call('/v1/upscale', { method: 'POST', json: { image: url } });
        assert.equal((await json(res)).error.code, code, url);
      }
      // Webhook and upload targets are checked at submission too.
      const png = dataUri(await testPng());
      for (const [field, body] of [
        ['webhook.url', { image: png, webhook: { url: 'http://169.254.169.254/hook' } }],
        ['output.upload_url', { image: png, output: { upload_url: 'http://[::1]:9000/put' } }],
      ] as const) {
        const res = await svc.call('/v1/upscale', { method: 'POST', json: body });
        const err = (await json(res)).error;
        assert.equal(res.status, 400, field);
        assert.equal(err.code, 'url_forbidden', field);
        assert.equal(err.param, field);
      }
      assert.equal((await json(await svc.call('/v1/jobs'))).data.length, 0, 'no job was created');
    } finally {
      await svc.close(1000);
    }
  });

  test('size limits: body too large → 413 body_too_large; input bytes or a decompression bomb → 413 image_too_large', async () => {
    const svc = await startTestService(
      {
        PIXELIFT_MAX_INPUT_BYTES: '4000',
        PIXELIFT_MAX_INPUT_MEGAPIXELS: '1',
        PIXELIFT_MAX_OUTPUT_MEGAPIXELS: '4',
      },
      backend,
    );
    try {
      const huge = await svc.call('/v1/upscale', {
        method: 'POST',
        json: { image: Buffer.alloc(2 * 1024 * 1024, 1).toString('base64') },
      });
      assert.equal(huge.status, 413);
      assert.equal((await json(huge)).error.code, 'body_too_large');
      const big = await svc.call('/v1/upscale', {
        method: 'POST',
        json: { image: Buffer.alloc(6000, 7).toString('base64') },
      });
      assert.equal(big.status, 413);
      assert.equal((await json(big)).error.code, 'image_too_large');
      const bomb = await svc.call('/v1/upscale', {
        method: 'POST',
        json: { image: dataUri(pngClaiming(100000, 100000)) },
      });
      assert.equal(bomb.status, 413);
      assert.match((await json(bomb)).error.message, /100000x100000/);
      const upload = await svc.call('/v1/uploads', {
        method: 'POST',
        body: Buffer.alloc(5000, 1),
        headers: { 'content-type': 'image/png' },
      });
      assert.equal(upload.status, 413);
      const flat = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080' } })
        .png()
        .toBuffer();
      const output = await svc.call('/v1/upscale', {
        method: 'POST',
        // 3200x3200 = 10.24 MP, above the 4 MP output limit
        json: { image: dataUri(flat), scale: 16 },
      });
      assert.equal((await json(output)).error.code, 'output_too_large');
    } finally {
      await svc.close(1000);
    }
  });

  test('open mode refuses to listen beyond loopback', async () => {
    await assert.rejects(startTestService({ PIXELIFT_HOST: '0.0.0.0' }, backend), /open mode/);
  });
}
