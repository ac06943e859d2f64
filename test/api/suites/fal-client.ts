/**
 * fal's official JS client (`@fal-ai/client`, unchanged) against a real Pixelift server, with
 * only `proxyUrl` pointed at /compat/fal/proxy (and `when: 'always'`, since the client proxies
 * only in browsers by default): fal.subscribe, fal.queue.submit/status/result/cancel and fal.run
 * for fal-ai/esrgan from a URL and a data URI, the webhook, a non-fal target refused, and fal's
 * error bodies.
 *
 * Embedded: one server. Scale-out: two API nodes and a worker over PostgreSQL, Redis and S3; the
 * client talks to the node without the worker.
 */
import assert from 'node:assert/strict';
import { before, type TestContext, test } from 'node:test';
import { createFalClient, type FalClient, ValidationError } from '@fal-ai/client';
import { validateWebhook } from 'replicate';
import { imageHost, type Json, receiver, sizeOf, until } from '../../helpers/compat.js';
import { cleanupAfter } from '../../helpers/scale-out.js';
import {
  dataUri,
  scaleOutEnv,
  startTestService,
  type TestBackend,
  type TestService,
  testPng,
} from '../../helpers/service.js';

const KEY = 'fal_pixelift_test_key';
/** The server's Standard Webhooks secret, set so that the test can verify fal_webhook signatures. */
const WEBHOOK_SECRET = `whsec_${Buffer.from('pixelift-fal-suite-webhook-secret').toString('base64')}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface EsrganOutput {
  image: {
    url: string;
    width: number;
    height: number;
    content_type: string;
    file_name: string;
    file_size: number;
  };
}

async function fetched(url: string): Promise<Buffer> {
  return Buffer.from(await (await fetch(url)).arrayBuffer());
}

export function falClientSuite(backend: TestBackend): void {
  let workerNode: TestService;
  let node: TestService;
  let fal: FalClient;
  let tiny: Buffer;

  before(async () => {
    // fal-ai/esrgan runs Real-ESRGAN x4plus on the CPU: tiny inputs keep the tests fast.
    tiny = await testPng(8, 6);
    const env = {
      PIXELIFT_API_KEYS: KEY,
      PIXELIFT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
      ...(backend === 'scale-out' ? await scaleOutEnv() : {}),
    };
    workerNode = await startTestService(env, backend);
    node = backend === 'scale-out' ? await startTestService(env, 'embedded') : workerNode;
    // Closed before the helper drops the test's schema and keys (a root after() would run after
    // that drop, and a job still finishing, like a canceled one, would write to a dropped schema).
    cleanupAfter(async () => {
      await Promise.all([...new Set([node, workerNode])].map((svc) => svc.close(1000)));
    });
    fal = createFalClient({
      credentials: KEY,
      proxyUrl: { url: `${node.url}/compat/fal/proxy`, when: 'always' } as never,
    });
  });

  test(`fal client (${backend}): subscribe to fal-ai/esrgan from a URL, with queue updates and logs`, async (t: TestContext) => {
    const host = await imageHost(t, { '/in.png': tiny });
    const updates: string[] = [];
    let enqueued = '';
    const r = await fal.subscribe('fal-ai/esrgan', {
      input: { image_url: host.url('/in.png'), scale: 2, model: 'RealESRGAN_x4_v3' },
      logs: true,
      pollInterval: 50,
      onEnqueue: (id) => {
        enqueued = id;
      },
      onQueueUpdate: (u) => updates.push(u.status),
    });
    assert.match(r.requestId, UUID);
    assert.equal(r.requestId, enqueued);
    assert.equal(updates.at(-1), 'COMPLETED');
    const out = r.data as EsrganOutput;
    assert.equal(out.image.width, 16);
    assert.equal(out.image.height, 12);
    assert.equal(out.image.content_type, 'image/png');
    assert.match(out.image.file_name, /\.png$/);
    const file = await fetched(out.image.url);
    assert.equal(out.image.file_size, file.length);
    assert.deepEqual(await sizeOf(file), { width: 16, height: 12, format: 'png' });
    // The model name Pixelift does not have is reported, not dropped.
    const status = await fal.queue.status('fal-ai/esrgan', { requestId: r.requestId, logs: true });
    assert.equal(status.status, 'COMPLETED');
    assert.ok(
      (status as { logs: { message: string }[] }).logs.some((l) => /RealESRGAN_x4_v3/.test(l.message)),
      JSON.stringify(status),
    );
  });

  test(`fal client (${backend}): queue.submit, status, result from a data URI (jpeg)`, async () => {
    const sub = await fal.queue.submit('fal-ai/esrgan', {
      input: { image_url: dataUri(tiny), scale: 3, output_format: 'jpeg' },
    });
    assert.match(sub.request_id, UUID);
    assert.equal(sub.status_url, `https://queue.fal.run/fal-ai/esrgan/requests/${sub.request_id}/status`);
    assert.equal(sub.response_url, `https://queue.fal.run/fal-ai/esrgan/requests/${sub.request_id}`);
    assert.equal(sub.cancel_url, `https://queue.fal.run/fal-ai/esrgan/requests/${sub.request_id}/cancel`);
    const first = await fal.queue.status('fal-ai/esrgan', { requestId: sub.request_id });
    assert.ok(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED'].includes(first.status));
    if (first.status === 'IN_QUEUE') assert.equal(typeof first.queue_position, 'number');
    await until(
      async () =>
        (await fal.queue.status('fal-ai/esrgan', { requestId: sub.request_id })).status === 'COMPLETED',
      60_000,
      'COMPLETED',
    );
    const r = await fal.queue.result('fal-ai/esrgan', { requestId: sub.request_id });
    assert.equal(r.requestId, sub.request_id);
    const out = r.data as EsrganOutput;
    assert.deepEqual(await sizeOf(await fetched(out.image.url)), { width: 24, height: 18, format: 'jpeg' });
    assert.equal(out.image.content_type, 'image/jpeg');
  });

  test(`fal client (${backend}): fal.run, the synchronous form`, async () => {
    const r = await fal.run('fal-ai/esrgan', { input: { image_url: dataUri(tiny), scale: 1, face: true } });
    const out = r.data as EsrganOutput;
    assert.deepEqual([out.image.width, out.image.height], [8, 6]);
    // `face: true` runs the face pass (no "not available" warning): the native job reports the
    // faces it looked for (none in this tiny picture).
    const job = (await (
      await node.call(`/v1/jobs/job_${r.requestId.replace(/-/g, '')}`, {
        headers: { authorization: `Bearer ${KEY}` },
      })
    ).json()) as Json;
    assert.deepEqual(job.result.faces, []);
    assert.deepEqual(job.warnings, []);
  });

  test(`fal client (${backend}): fal_webhook gets the result, signed the Standard Webhooks way`, async (t: TestContext) => {
    const hook = await receiver(t);
    const sub = await fal.queue.submit('fal-ai/esrgan', {
      input: { image_url: dataUri(tiny), scale: 2 },
      webhookUrl: hook.url,
    });
    const [got] = await until(() => (hook.got.length > 0 ? hook.got : undefined), 60_000, 'the webhook');
    const body = JSON.parse(got!.text);
    assert.equal(body.request_id, sub.request_id);
    assert.equal(body.status, 'OK');
    assert.equal(body.payload.image.width, 16);
    // Any Standard Webhooks verifier accepts it with the server's secret (here Replicate's client's).
    const signed = (secret: string) => ({
      id: String(got!.headers['webhook-id']),
      timestamp: String(got!.headers['webhook-timestamp']),
      signature: String(got!.headers['webhook-signature']),
      body: got!.text,
      secret,
    });
    assert.equal(await validateWebhook(signed(WEBHOOK_SECRET)), true);
    assert.equal(
      await validateWebhook(signed(`whsec_${Buffer.from('another-secret-entirely').toString('base64')}`)),
      false,
    );
  });

  test(`fal client (${backend}): cancel a request in progress; cancel again says ALREADY_COMPLETED`, async (t: TestContext) => {
    const host = await imageHost(t, { '/big.png': await testPng(256, 256) });
    const sub = await fal.queue.submit('fal-ai/esrgan', {
      input: { image_url: host.url('/big.png'), scale: 4 },
    });
    await fal.queue.cancel('fal-ai/esrgan', { requestId: sub.request_id });
    const status = await until(async () => {
      const s = await fal.queue.status('fal-ai/esrgan', { requestId: sub.request_id });
      return s.status === 'COMPLETED' ? s : undefined;
    });
    assert.equal(status.status, 'COMPLETED');
    await assert.rejects(
      fal.queue.result('fal-ai/esrgan', { requestId: sub.request_id }),
      (err: { status: number; body: { detail: string } }) => {
        assert.equal(err.status, 400);
        assert.match(err.body.detail, /cancel/i);
        return true;
      },
    );
    await assert.rejects(
      fal.queue.cancel('fal-ai/esrgan', { requestId: sub.request_id }),
      (err: { status: number; body: { status: string } }) => {
        assert.equal(err.status, 400);
        assert.equal(err.body.status, 'ALREADY_COMPLETED');
        return true;
      },
    );
  });

  test(`fal client (${backend}): two requests queued behind a running one report their places, 0 and 1`, async (t: TestContext) => {
    // One worker: a large Real-ESRGAN run holds it while the two tiny ones wait.
    const host = await imageHost(t, { '/big.png': await testPng(256, 256) });
    const held = await fal.queue.submit('fal-ai/esrgan', {
      input: { image_url: host.url('/big.png'), scale: 4 },
    });
    const ids = [held.request_id];
    try {
      await until(
        async () =>
          (await fal.queue.status('fal-ai/esrgan', { requestId: held.request_id })).status === 'IN_PROGRESS',
        60_000,
        'the large request to start',
      );
      const first = await fal.queue.submit('fal-ai/esrgan', { input: { image_url: dataUri(tiny) } });
      ids.push(first.request_id);
      const second = await fal.queue.submit('fal-ai/esrgan', { input: { image_url: dataUri(tiny) } });
      ids.push(second.request_id);
      assert.deepEqual(
        [
          (first as { queue_position?: number }).queue_position,
          (second as { queue_position?: number }).queue_position,
        ],
        [0, 1],
        'queue_position on submission',
      );
      const positions = [];
      for (const { request_id } of [first, second]) {
        const s = await fal.queue.status('fal-ai/esrgan', { requestId: request_id });
        assert.equal(s.status, 'IN_QUEUE', JSON.stringify(s));
        positions.push((s as { queue_position: number }).queue_position);
      }
      assert.deepEqual(positions, [0, 1]);
      // The first leaves the queue: the second moves up.
      await fal.queue.cancel('fal-ai/esrgan', { requestId: first.request_id });
      const moved = await fal.queue.status('fal-ai/esrgan', { requestId: second.request_id });
      assert.equal((moved as { queue_position: number }).queue_position, 0);
    } finally {
      for (const requestId of ids) await fal.queue.cancel('fal-ai/esrgan', { requestId }).catch(() => {});
    }
  });

  test(`fal client (${backend}): errors in fal's shape (422 detail list, unknown app 404)`, async () => {
    await assert.rejects(
      fal.queue.submit('fal-ai/esrgan', { input: { image_url: dataUri(tiny), scale: 9 } }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError, String(err));
        assert.equal(err.status, 422);
        assert.deepEqual(err.fieldErrors[0]?.loc, ['body', 'scale']);
        assert.equal(err.fieldErrors[0]?.type, 'less_than_equal');
        return true;
      },
    );
    await assert.rejects(
      fal.queue.submit('fal-ai/esrgan', { input: { scale: 2 } as never }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.deepEqual(err.fieldErrors[0]?.loc, ['body', 'image_url']);
        return true;
      },
    );
    await assert.rejects(
      fal.queue.submit('fal-ai/no-such-app', { input: { image_url: dataUri(tiny) } }),
      (err: { status: number; body: { detail: string } }) => {
        assert.equal(err.status, 404);
        assert.match(err.body.detail, /no-such-app/);
        return true;
      },
    );
  });

  test(`fal proxy (${backend}): a target that is not fal's is refused and never fetched`, async (t: TestContext) => {
    const host = await imageHost(t, {});
    for (const target of [
      host.url('/anything'),
      'https://example.com/fal-ai/esrgan',
      'http://queue.fal.run/fal-ai/esrgan',
    ]) {
      const res = await fetch(`${node.url}/compat/fal/proxy`, {
        method: 'POST',
        headers: {
          authorization: `Key ${KEY}`,
          'content-type': 'application/json',
          'x-fal-target-url': target,
        },
        body: JSON.stringify({ image_url: dataUri(tiny) }),
      });
      assert.equal(res.status, 412, target);
      assert.match(((await res.json()) as { detail: string }).detail, /not fal/);
    }
    const none = await fetch(`${node.url}/compat/fal/proxy`, {
      method: 'POST',
      headers: { authorization: `Key ${KEY}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(none.status, 412);
  });
}
