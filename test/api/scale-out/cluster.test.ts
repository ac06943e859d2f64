/**
 * The scale-out deployment as operators run it, every piece its own process on loopback: two API
 * nodes (`pixelift serve`) and two workers (`pixelift worker`, the built CLI) over PostgreSQL,
 * Redis and an S3 server. Jobs go in through both nodes; one worker is killed with SIGKILL
 * mid-job; every job still ends succeeded exactly once, with its file in S3. Events, webhooks and
 * cancellation cross nodes: SSE on one node sees jobs of the other, a webhook is delivered once
 * though two dispatchers poll the outbox, and a cancel sent to one node stops the worker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPostgresStores } from '../../../src/jobs/postgres/index.js';
import { parseS3Url, S3BlobStore } from '../../../src/storage/s3-store.js';
import { type CliProcess, freePort, sharedCacheDataDir, spawnCli } from '../../helpers/cli-process.js';
import { serveLoopback } from '../../helpers/loopback.js';
import { dataUri, readSse, scaleOutEnv, testPng } from '../../helpers/service.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field and asserted
type Json = Record<string, any>;
function spawnNode(verb: 'serve' | 'worker', env: Record<string, string>): CliProcess {
  // Each node has its own data dir: they share nothing on disk.
  return spawnCli(verb, {
    PIXELIFT_DATA_DIR: sharedCacheDataDir('pixelift-cluster-'),
    PIXELIFT_WORKERS: '1',
    PIXELIFT_THREADS: '1',
    PIXELIFT_DEVICE: 'cpu',
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    ...env,
  });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startApi(env: Record<string, string>): Promise<CliProcess & { url: string }> {
  const port = await freePort();
  const node = spawnNode('serve', { ...env, PIXELIFT_PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await until(
    `API node ${url}`,
    async () => {
      if (node.child.exitCode !== null) throw new Error(`API node exited:\n${node.logs()}`);
      return (
        (await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        )) || undefined
      );
    },
    30_000,
  );
  return { ...node, url };
}

async function getJob(url: string, id: string): Promise<Json> {
  return (await (await fetch(`${url}/v1/jobs/${id}`)).json()) as Json;
}

async function submit(url: string, body: Json): Promise<Json> {
  const res = await fetch(`${url}/v1/upscale`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 202, await res.clone().text());
  return (await res.json()) as Json;
}

test('2 API nodes + 2 workers: jobs from both nodes complete, a worker SIGKILLed mid-job loses none, results land in S3 once', async (t) => {
  const env = await scaleOutEnv();
  const receiver = await serveLoopback(t, (_req, res) => res.end());
  const a = await startApi(env);
  const b = await startApi({ ...env, PIXELIFT_PUBLIC_URL: '' });
  const workers = [spawnNode('worker', env), spawnNode('worker', env)];
  const stores = await openPostgresStores({
    url: env.PIXELIFT_DATABASE_URL!,
    schema: env.PIXELIFT_DATABASE_SCHEMA!,
    max: 2,
  });
  const blobs = new S3BlobStore(parseS3Url(env.PIXELIFT_S3_URL!));
  t.after(async () => {
    await Promise.all([a, b, ...workers].map(async (n) => n.child.kill('SIGTERM') && (await n.exited)));
    await stores.close();
    blobs.close();
  });

  // Node B's stream of every job: events of jobs submitted to node A must reach it.
  const sawOnB = readSse(`${b.url}/v1/events`, {}, () => false, 120_000).catch(() => []);
  const heavy = dataUri(await testPng(160, 160));
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const node = i % 2 ? b : a;
    const job = await submit(node.url, {
      image: heavy,
      model: 'realesrgan-x4fast',
      ...(i === 0 ? { webhook: { url: `${receiver.origin}/hook`, events: ['completed'] } } : {}),
    });
    ids.push(job.id);
  }

  // Kill a worker while the job it last started is still running.
  const lastStarted = (w: CliProcess) =>
    [...w.logs().matchAll(/"jobId":"(job_[^"]+)"[^\n]*"msg":"job started"/g)].at(-1)?.[1];
  const [victim, runningId] = await until('a worker to be mid-job', async () => {
    for (const w of workers) {
      const id = lastStarted(w);
      if (id && (await stores.jobs.get(id))?.status === 'running') return [w, id] as const;
    }
    return undefined;
  });
  victim.child.kill('SIGKILL');
  await victim.exited;

  const done = await Promise.all(
    ids.map((id, i) =>
      until(`job ${id} to end`, async () => {
        const job = await getJob(i % 2 ? a.url : b.url, id); // read through the other node
        return ['succeeded', 'failed', 'canceled'].includes(job.status) ? job : undefined;
      }),
    ),
  );
  assert.deepEqual(
    done.map((j) => j.status),
    ids.map(() => 'succeeded'),
    JSON.stringify(done.map((j) => j.error)),
  );
  const killed = done.find((j) => j.id === runningId)!;
  assert.ok(killed.attempts >= 2, `the killed worker's job ran again (attempts ${killed.attempts})`);
  for (const id of ids) {
    const job = await stores.jobs.get(id);
    assert.equal(job?.status, 'succeeded');
    assert.equal(await blobs.size(job!.result!.blobKey), job!.result!.bytes, `${id}: its file is in S3`);
    const completed = (await stores.events.since({ afterId: 0, jobId: id })).filter(
      (e) => e.type === 'completed',
    );
    assert.equal(completed.length, 1, `${id}: committed once`);
  }
  // The result is served by either node, signed by whichever one answered.
  const viaB = await getJob(b.url, ids[0]!);
  const file = await fetch(
    viaB.result.url.startsWith('http') ? viaB.result.url : `${b.url}${viaB.result.url}`,
  );
  assert.equal(file.status, 200);
  assert.equal(file.headers.get('content-type'), 'image/png');

  // One webhook delivery though both nodes dispatch from the shared outbox.
  await until('the webhook', async () => (receiver.received.length > 0 ? true : undefined), 30_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(receiver.received.filter((r) => r.url === '/hook').length, 1);

  // A cancel sent to node B stops the job on whichever worker runs it.
  const slow = await submit(a.url, { image: dataUri(await testPng(400, 400)), model: 'realesrgan-x4fast' });
  await until('the slow job to run', async () =>
    (await getJob(a.url, slow.id)).status === 'running' ? true : undefined,
  );
  const canceled = (await (
    await fetch(`${b.url}/v1/jobs/${slow.id}/cancel`, { method: 'POST' })
  ).json()) as Json;
  assert.equal(canceled.status, 'canceled');
  const survivor = workers.find((w) => w !== victim)!;
  await until('the worker to stop the canceled job', async () =>
    survivor.logs().includes(`"jobId":"${slow.id}","msg":"cancel received`) ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await stores.jobs.get(slow.id))?.status, 'canceled', 'never turns succeeded');

  for (const n of [a, b]) n.child.kill('SIGTERM');
  const seen = (await sawOnB) as { event: string; data: Json }[];
  const fromA = ids.filter((_, i) => i % 2 === 0);
  for (const id of fromA) {
    assert.ok(
      seen.some((e) => e.event === 'completed' && e.data.id === id),
      `node B's SSE saw ${id} (submitted to node A) complete`,
    );
  }
});
