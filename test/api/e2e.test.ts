/**
 * The built server as a user runs it (`node dist/src/cli/index.js serve`), over real HTTP:
 * upload → job with a webhook → SSE → poll → download, the webhook verified with the
 * `standardwebhooks` package; then a server killed with SIGKILL mid-job and restarted; then
 * SIGTERM's graceful shutdown.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { freePort, sharedCacheDataDir, spawnCli } from '../helpers/cli-process.js';
import { serveLoopback } from '../helpers/loopback.js';
import { readSse, testPng } from '../helpers/service.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
/** A data dir whose model cache is the one every service test shares (conversion costs seconds). */
const dataDir = () => sharedCacheDataDir('pixelift-e2e-');

interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  readonly logs: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function serve(dir: string, port: number, env: Record<string, string> = {}): Promise<Server> {
  const { child, logs, exited } = spawnCli('serve', {
    PIXELIFT_DATA_DIR: dir,
    PIXELIFT_PORT: String(port),
    PIXELIFT_WORKERS: '1',
    PIXELIFT_DEVICE: 'cpu',
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    PIXELIFT_WEBHOOK_SECRET: SECRET,
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > end) throw new Error(`server did not start:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, logs, exited };
}

async function getJob(url: string, id: string): Promise<Json> {
  return (await (await fetch(`${url}/v1/jobs/${id}`)).json()) as Json;
}

async function waitFor(url: string, id: string, ok: (j: Json) => boolean, timeoutMs = 90_000): Promise<Json> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(url, id);
    if (ok(job)) return job;
    if (Date.now() > end) throw new Error(`job ${id}: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function submit(url: string, body: Json): Promise<Json> {
  const res = await fetch(`${url}/v1/upscale`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202);
  return (await res.json()) as Json;
}

test('end to end: upload, job with webhook, SSE, poll, download, signature verified independently', async (t) => {
  const receiver = await serveLoopback(t, (_req, res) => res.end());
  const hooks = receiver.received;
  const hookUrl = `${receiver.origin}/pixelift`;
  const server = await serve(dataDir(), await freePort());
  try {
    const form = new FormData();
    form.set('file', new Blob([await testPng(64, 48)], { type: 'image/png' }), 'photo.png');
    const up = await fetch(`${server.url}/v1/uploads`, { method: 'POST', body: form });
    assert.equal(up.status, 201);
    const upload = (await up.json()) as Json;

    const job = await submit(server.url, {
      image: upload.id,
      model: 'realesrgan-x4fast',
      output: { format: 'png' },
      webhook: { url: hookUrl, events: ['queued', 'completed'] },
      metadata: { customer: 'e2e' },
    });
    const events = await readSse(
      `${server.url}/v1/jobs/${job.id}/events`,
      {},
      (e) => e.event === 'completed',
      90_000,
    );
    assert.ok(events.some((e) => e.event === 'started'));
    assert.equal(events.at(-1)!.data.status, 'succeeded');

    const done = await waitFor(server.url, job.id, (j) => j.status === 'succeeded');
    assert.deepEqual([done.output.width, done.output.height], [256, 192]);
    assert.equal(done.model.used, 'realesrgan-x4fast');
    const file = Buffer.from(await (await fetch(done.result.url)).arrayBuffer());
    const meta = await sharp(file).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [256, 192, 'png']);

    const end = Date.now() + 20_000;
    while (hooks.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const wh = new Webhook(SECRET);
    const payloads = hooks.map(
      (h) =>
        wh.verify(h.body.toString(), {
          'webhook-id': String(h.headers['webhook-id']),
          'webhook-timestamp': String(h.headers['webhook-timestamp']),
          'webhook-signature': String(h.headers['webhook-signature']),
        }) as Json,
    );
    assert.deepEqual(payloads.map((p) => p.type).sort(), ['job.completed', 'job.queued']);
    const completed = payloads.find((p) => p.type === 'job.completed')!;
    assert.equal(completed.data.id, job.id);
    assert.equal(completed.data.status, 'succeeded');
    assert.deepEqual(completed.data.metadata, { customer: 'e2e' });
    assert.match(server.logs(), /"jobId":"job_/, 'JSON logs carry the job id');
    assert.match(server.logs(), /"reqId":"req_/, 'and the request id');
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});

test('a server killed with SIGKILL mid-job resumes the job after a restart and completes it', async () => {
  const dir = dataDir();
  const port = await freePort();
  const first = await serve(dir, port);
  // ~0.6 MP through x4fast: several seconds on 2 cores.
  const png = await testPng(768, 768);
  const job = await submit(first.url, {
    image: png.toString('base64'),
    model: 'realesrgan-x4fast',
    scale: 2,
  });
  // Into its run (x4fast takes this image in one window; the pool moves progress on during it):
  // killed mid-job, which attempts === 2 below confirms.
  await waitFor(first.url, job.id, (j) => j.status === 'running' && j.progress > 0);
  first.child.kill('SIGKILL');
  await first.exited;

  const second = await serve(dir, port);
  try {
    const done = await waitFor(second.url, job.id, (j) => j.status === 'succeeded' || j.status === 'failed');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.attempts, 2);
    assert.deepEqual([done.output.width, done.output.height], [1536, 1536]);
    const meta = await sharp(Buffer.from(await (await fetch(done.result.url)).arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [1536, 1536]);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});

test('attempts are capped: with PIXELIFT_MAX_ATTEMPTS=1 a job interrupted by a crash fails with attempts_exhausted', async () => {
  const dir = dataDir();
  const port = await freePort();
  const env = { PIXELIFT_MAX_ATTEMPTS: '1' };
  const first = await serve(dir, port, env);
  const job = await submit(first.url, {
    image: (await testPng(768, 768)).toString('base64'),
    model: 'realesrgan-x4fast',
    scale: 2,
  });
  await waitFor(first.url, job.id, (j) => j.status === 'running');
  first.child.kill('SIGKILL');
  await first.exited;
  const second = await serve(dir, port, env);
  try {
    const failed = await getJob(second.url, job.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'attempts_exhausted');
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});

test('SIGTERM: new jobs are refused, a running job past the grace period is re-queued and completes after the restart', async () => {
  const dir = dataDir();
  const port = await freePort();
  const first = await serve(dir, port, { PIXELIFT_SHUTDOWN_GRACE: '0.5' });
  const job = await submit(first.url, {
    image: (await testPng(768, 768)).toString('base64'),
    model: 'realesrgan-x4fast',
    scale: 2,
  });
  await waitFor(first.url, job.id, (j) => j.status === 'running');
  // An open SSE stream and a request held by Prefer: wait must not hold the shutdown up.
  const stream = await fetch(`${first.url}/v1/events`);
  assert.equal(stream.status, 200);
  const held = fetch(`${first.url}/v1/upscale`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=60' },
    body: JSON.stringify({ image: (await testPng()).toString('base64'), model: 'lanczos3' }),
  });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  first.child.kill('SIGTERM');
  const refused = await fetch(`${first.url}/v1/upscale`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ image: (await testPng()).toString('base64') }),
  }).then(
    async (r) => ((await r.json()) as Json).error?.code as string,
    () => 'connection closed',
  );
  assert.ok(['shutting_down', 'connection closed'].includes(refused), refused);
  const heldAnswer = await held;
  assert.equal(heldAnswer.status, 202, 'the held request is answered with the queued job');
  assert.equal(((await heldAnswer.json()) as Json).status, 'queued');
  const exit = await first.exited;
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - t0 < 10_000, 'the grace period bounds the shutdown');
  assert.match(first.logs(), /re-queued/);

  const second = await serve(dir, port);
  try {
    const done = await waitFor(second.url, job.id, (j) => j.status === 'succeeded' || j.status === 'failed');
    assert.equal(done.status, 'succeeded');
    assert.equal(done.attempts, 1, 'a shutdown does not count as an attempt');
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});
