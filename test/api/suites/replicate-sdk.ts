/**
 * Replicate's official JS client (`replicate`, unchanged) against a real Pixelift server, with
 * only its `baseUrl` pointed at /compat/replicate/v1: run in block and poll modes from a URL, a
 * data URI and a Buffer (uploaded through /v1/files), version ids from models.get, the output
 * fetched, a webhook checked by the client's own validateWebhook, cancel, list, and Replicate's
 * error bodies.
 *
 * Embedded: one server. Scale-out: two API nodes and a worker over PostgreSQL, Redis and S3; the
 * client talks to the node without the worker.
 */
import assert from 'node:assert/strict';
import { before, type TestContext, test } from 'node:test';
import Replicate, { validateWebhook } from 'replicate';
import { imageHost, receiver, sizeOf, until } from '../../helpers/compat.js';
import { cleanupAfter } from '../../helpers/scale-out.js';
import {
  dataUri,
  scaleOutEnv,
  startTestService,
  type TestBackend,
  type TestService,
  testPng,
} from '../../helpers/service.js';

const KEY = 'r8_pixelift_test_key';
/** Pixelift's classical model, served as `pixelift/lanczos3`: the protocol is under test, not the network. */
const FAST = 'pixelift/lanczos3';

type Prediction = Awaited<ReturnType<Replicate['predictions']['get']>>;

async function bytesOf(output: unknown): Promise<Buffer> {
  // Over plain http the client hands back the URL string (it wraps only https: and data: in FileOutput).
  if (typeof output === 'string') return Buffer.from(await (await fetch(output)).arrayBuffer());
  const blob = await (output as { blob(): Promise<Blob> }).blob();
  return Buffer.from(await blob.arrayBuffer());
}

export function replicateSdkSuite(backend: TestBackend): void {
  let workerNode: TestService;
  let node: TestService;
  let client: Replicate;
  let png: Buffer;

  /** The prediction as the native API shows it (a prediction id is the job id). */
  const nativeJob = async (id: string): Promise<Json> =>
    (
      await node.call(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${KEY}` } })
    ).json() as Promise<Json>;

  before(async () => {
    png = await testPng(24, 16);
    const env = {
      PIXELIFT_API_KEYS: `${KEY},r8_other_key`,
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
    client = new Replicate({ auth: KEY, baseUrl: `${node.url}/compat/replicate/v1` });
  });

  test(`replicate client (${backend}): run in block mode from a URL; the output is the upscaled file`, async (t: TestContext) => {
    const host = await imageHost(t, { '/in.png': png });
    const output = await client.run(FAST, { input: { image: host.url('/in.png'), scale: 2 } });
    assert.deepEqual(await sizeOf(await bytesOf(output)), { width: 48, height: 32, format: 'png' });
  });

  test(`replicate client (${backend}): run in poll mode from a data URI, with progress callbacks`, async () => {
    const seen: string[] = [];
    const output = await client.run(
      FAST,
      {
        input: { image: dataUri(png), scale: 3, output_format: 'webp' },
        wait: { mode: 'poll', interval: 50 },
      },
      (p: Prediction) => seen.push(p.status),
    );
    assert.deepEqual(await sizeOf(await bytesOf(output)), { width: 72, height: 48, format: 'webp' });
    assert.ok(['starting', 'processing'].includes(seen[0]!), `first status ${seen[0]}`);
    assert.equal(seen.at(-1), 'succeeded');
  });

  test(`replicate client (${backend}): a Buffer input is uploaded to /v1/files first and used from there`, async () => {
    const uploaded = await client.files.create(png);
    assert.match(uploaded.urls.get, /\/compat\/replicate\/v1\/files\/upl_/);
    assert.equal(uploaded.size, png.length);
    const again = (await client.files.get(uploaded.id)) as unknown as { id: string; size: number };
    assert.equal(again.id, uploaded.id);

    const output = await client.run(FAST, { input: { image: png, scale: 2 } });
    assert.deepEqual(await sizeOf(await bytesOf(output)), { width: 48, height: 32, format: 'png' });
  });

  test(`replicate client (${backend}): models.get gives a latest_version whose id runs as owner/name:version`, async () => {
    const model = await client.models.get('nightmareai', 'real-esrgan');
    const v = model.latest_version!;
    assert.match(v.id, /^[0-9a-f]{64}$/);
    const schema = (v.openapi_schema as { components: { schemas: { Input: Record<string, Json> } } })
      .components.schemas.Input;
    assert.deepEqual(Object.keys(schema.properties), ['image', 'scale', 'face_enhance']);
    assert.equal(schema.properties.scale.default, 4);
    assert.equal(schema.properties.scale.maximum, 10);

    const tiny = await testPng(8, 6);
    const prediction = await client.predictions.create({
      version: v.id,
      input: { image: dataUri(tiny), scale: 2, face_enhance: true },
      wait: 60,
    });
    assert.equal(prediction.status, 'succeeded', JSON.stringify(prediction));
    assert.equal(prediction.model, 'nightmareai/real-esrgan');
    assert.equal(prediction.version, v.id);
    // face_enhance runs the face pass (no "not available" warning): the native job reports the
    // faces it looked for (none in this tiny picture).
    assert.doesNotMatch(prediction.logs!, /face_enhance/);
    assert.deepEqual((await nativeJob(prediction.id)).result.faces, []);
    assert.equal(typeof prediction.metrics?.predict_time, 'number');
    const echoed = prediction.input as { scale: number; image: string };
    assert.equal(echoed.scale, 2);
    assert.match(echoed.image, /^data:image\/png;base64,/);
    assert.deepEqual(await sizeOf(await bytesOf(prediction.output)), {
      width: 16,
      height: 12,
      format: 'png',
    });

    const viaRun = await client.run(`nightmareai/real-esrgan:${v.id}`, {
      input: { image: dataUri(tiny), scale: 1 },
    });
    assert.deepEqual(await sizeOf(await bytesOf(viaRun)), { width: 8, height: 6, format: 'png' });
  });

  test(`replicate client (${backend}): tencentarc/gfpgan and sczhou/codeformer run the face pass, without the old "no face restoration" warning`, async () => {
    const tiny = await testPng(8, 6);
    for (const [model, input] of [
      ['tencentarc/gfpgan', { img: dataUri(tiny), scale: 1 }],
      ['sczhou/codeformer', { image: dataUri(tiny), upscale: 1, codeformer_fidelity: 0.7 }],
    ] as const) {
      const prediction = await client.predictions.create({ model, input, wait: 60 });
      assert.equal(prediction.status, 'succeeded', JSON.stringify(prediction));
      assert.doesNotMatch(prediction.logs!, /warning/, prediction.logs!);
      const job = await nativeJob(prediction.id);
      assert.deepEqual(job.result.faces, [], model);
      assert.deepEqual(await sizeOf(await bytesOf(prediction.output)), {
        width: 8,
        height: 6,
        format: 'png',
      });
    }
  });

  test(`replicate client (${backend}): a pixelift/<model> version id runs too`, async () => {
    const model = await client.models.get('pixelift', 'lanczos3');
    const output = await client.run(`pixelift/lanczos3:${model.latest_version!.id}`, {
      input: { image: dataUri(png), scale: 2 },
    });
    assert.deepEqual(await sizeOf(await bytesOf(output)), { width: 48, height: 32, format: 'png' });
  });

  test(`replicate client (${backend}): the webhook is signed so that validateWebhook accepts it`, async (t: TestContext) => {
    const hook = await receiver(t);
    const secret = await client.webhooks.default.secret.get();
    assert.match(secret.key, /^whsec_/);
    const other = new Replicate({ auth: 'r8_other_key', baseUrl: `${node.url}/compat/replicate/v1` });
    assert.notEqual((await other.webhooks.default.secret.get()).key, secret.key, 'each key has its own');

    const created = await client.predictions.create({
      model: FAST,
      input: { image: dataUri(png), scale: 2 },
      webhook: hook.url,
      webhook_events_filter: ['completed'],
    });
    assert.equal(created.status, 'starting');
    const [got] = await until(() => (hook.got.length > 0 ? hook.got : undefined), 60_000, 'the webhook');
    const body = JSON.parse(got!.text);
    assert.equal(body.id, created.id);
    assert.equal(body.status, 'succeeded');
    const signed = (key: string) => ({
      id: String(got!.headers['webhook-id']),
      timestamp: String(got!.headers['webhook-timestamp']),
      signature: String(got!.headers['webhook-signature']),
      body: got!.text,
      secret: key,
    });
    assert.equal(await validateWebhook(signed(secret.key)), true);
    // Each key's secret is its own: another key's secret does not validate it.
    assert.equal(await validateWebhook(signed((await other.webhooks.default.secret.get()).key)), false);
  });

  test(`replicate client (${backend}): cancel a running prediction`, async (t: TestContext) => {
    const host = await imageHost(t, { '/big.png': await testPng(256, 256) });
    const p = await client.predictions.create({
      model: 'nightmareai/real-esrgan',
      input: { image: host.url('/big.png'), scale: 4 },
    });
    assert.ok(['starting', 'processing'].includes(p.status), p.status);
    const canceled = await client.predictions.cancel(p.id);
    assert.equal(canceled.status, 'canceled');
    assert.equal(canceled.output, null);
    assert.equal((await client.predictions.get(p.id)).status, 'canceled');
    // A second cancel answers with the prediction as it is.
    assert.equal((await client.predictions.cancel(p.id)).status, 'canceled');
  });

  test(`replicate client (${backend}): list pages through this key's predictions`, async () => {
    const p = await client.predictions.create({ model: FAST, input: { image: dataUri(png) } });
    const ids: string[] = [];
    for await (const page of client.paginate(() => client.predictions.list()))
      ids.push(...page.map((x) => x.id));
    assert.ok(ids.includes(p.id));
    const other = new Replicate({ auth: 'r8_other_key', baseUrl: `${node.url}/compat/replicate/v1` });
    const theirs = await other.predictions.list();
    assert.ok(!theirs.results.some((x) => x.id === p.id), 'another key does not see it');
  });

  test(`replicate client (${backend}): errors are Replicate's bodies (unknown model 404, invalid input 422)`, async () => {
    await assert.rejects(
      client.run('nobody/no-such-model', { input: { image: dataUri(png) } }),
      (err: Error & { response?: Response }) => {
        assert.equal(err.response?.status, 404);
        assert.match(err.message, /"title":"Not found"/);
        return true;
      },
    );
    await assert.rejects(
      client.run('nightmareai/real-esrgan', { input: { image: dataUri(png), scale: 11 } }),
      (err: Error & { response?: Response }) => {
        assert.equal(err.response?.status, 422);
        assert.match(err.message, /input\.scale/);
        assert.match(err.message, /less_than_equal/);
        return true;
      },
    );
    // Replicate's older `Token` scheme is a key too.
    const token = await fetch(`${node.url}/compat/replicate/v1/predictions`, {
      headers: { authorization: `Token ${KEY}` },
    });
    assert.equal(token.status, 200);
    const unauth = new Replicate({ auth: 'wrong', baseUrl: `${node.url}/compat/replicate/v1` });
    await assert.rejects(unauth.predictions.list(), (err: Error & { response?: Response }) => {
      assert.equal(err.response?.status, 401);
      return true;
    });
  });
}

// biome-ignore lint/suspicious/noExplicitAny: schema fields are checked one by one
type Json = any;
