/**
 * Runware's official JS SDK (`@runware/sdk-js`, unchanged) against a real Pixelift server, with
 * only its `url` option pointed at /compat/runware/v1: uploads, upscales from every input form
 * to every output type, sync and async delivery, cost, webhooks and uploadEndpoint, several tasks
 * in flight on one socket, Runware's errors, a wrong key, the heartbeat and a server restart.
 *
 * Embedded: one server. Scale-out: two API nodes and a worker over PostgreSQL, Redis and S3; the
 * SDK talks to the node without the worker, so every result it gets was made elsewhere and reached
 * its socket through the event fan-out.
 */
import assert from 'node:assert/strict';
import { after, before, type TestContext, test } from 'node:test';
import { Runware } from '@runware/sdk-js';
import { imageHost, receiver, sizeOf, until } from '../../helpers/compat.js';
import { serveLoopback } from '../../helpers/loopback.js';
import {
  dataUri,
  scaleOutEnv,
  startTestService,
  type TestBackend,
  type TestService,
  testPng,
} from '../../helpers/service.js';

const KEY = 'rw_sdk_key';
/** Pixelift's classical model: the protocol is under test, not the network. */
const FAST = 'lanczos3';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Sdk = InstanceType<typeof Runware>;
/** The SDK's socket (a `ws` WebSocket), read to watch its frames and close codes. */
type SdkSocket = {
  on(event: 'message', fn: (data: Buffer) => void): void;
  once(event: 'close', fn: (code: number) => void): void;
};
const socketOf = (sdk: Sdk): SdkSocket => (sdk as unknown as { _ws: SdkSocket })._ws;

function wsUrl(svc: TestService): string {
  return `${svc.url.replace(/^http/, 'ws')}/compat/runware/v1`;
}

/** What an SDK call rejects with for a Runware error: `{error: {code, message, parameter, …}}`. */
function runwareError(code: string, check: (e: Record<string, unknown>) => void = () => {}) {
  return (err: unknown) => {
    const e = (err as { error?: Record<string, unknown> }).error;
    assert.ok(e, `expected a Runware error, got ${JSON.stringify(err)}`);
    assert.equal(e.code, code, JSON.stringify(e));
    check(e);
    return true;
  };
}

/** `imageUpload` (the SDK types `imageUUID` as a number; Runware, and Pixelift, send a UUID string). */
async function upload(sdk: Sdk, image: string): Promise<{ taskType: string; imageUUID: string }> {
  return (await sdk.imageUpload({ image })) as unknown as { taskType: string; imageUUID: string };
}

async function connectionsOpened(svc: TestService): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const m = /^pixelift_runware_ws_connections_total (\d+)/m.exec(text);
  return Number(m?.[1] ?? 0);
}

export function runwareSdkSuite(backend: TestBackend): void {
  let env: Record<string, string>;
  /** Where the worker is (scale-out), or the one server. */
  let workerNode: TestService;
  /** The node the SDK talks to: in scale-out, an API node with no worker. */
  let node: TestService;
  let sdk: Sdk;
  /** An SDK on the other node (scale-out), for uploads made on one node and used on the other. */
  let other: Sdk;
  /** An SDK with the shortest heartbeat it allows (10 s), and the pongs it got. */
  let beating: Sdk;
  const pongs: unknown[] = [];
  let png: Buffer;

  before(async () => {
    png = await testPng(48, 32);
    env = {
      PIXELIFT_API_KEYS: KEY,
      PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
      ...(backend === 'scale-out' ? await scaleOutEnv() : {}),
    };
    workerNode = await startTestService(env, backend);
    // The same stores, queue and bucket: a second API node of the same deployment, without a worker.
    node = backend === 'scale-out' ? await startTestService(env, 'embedded') : workerNode;
    sdk = new Runware({ apiKey: KEY, url: wsUrl(node) });
    other = backend === 'scale-out' ? new Runware({ apiKey: KEY, url: wsUrl(workerNode) }) : sdk;
    beating = new Runware({ apiKey: KEY, url: wsUrl(workerNode), heartbeatInterval: 10_000 });
    await beating.ensureConnection();
    socketOf(beating).on('message', (data) => {
      const frame = JSON.parse(data.toString('utf8'));
      if (frame.data?.[0]?.taskType === 'ping') pongs.push(frame.data[0]);
    });
  });
  after(async () => {
    for (const s of new Set([sdk, other, beating])) await s?.disconnect();
    await Promise.all([...new Set([node, workerNode])].map((s) => s?.close(1000)));
  });

  test(`runware sdk (${backend}): imageUpload, then upscale of the uploaded UUID (URL output, PNG)`, async () => {
    const up = await upload(other, dataUri(png));
    assert.equal(up.taskType, 'imageUpload');
    assert.match(up.imageUUID, UUID);

    const r = await sdk.upscale({
      inputImage: up.imageUUID,
      model: FAST,
      upscaleFactor: 2,
      outputFormat: 'PNG',
    });
    assert.equal(r.status, 'success');
    assert.equal(r.inputImageUUID, up.imageUUID);
    assert.match(r.imageUUID!, UUID);
    assert.equal(r.cost, undefined, 'cost only with includeCost');
    const file = Buffer.from(await (await fetch(r.imageURL!)).arrayBuffer());
    assert.deepEqual(await sizeOf(file), { width: 96, height: 64, format: 'png' });
  });

  test(`runware sdk (${backend}): a URL, a data URI and bare base64, to URL, dataURI and base64Data`, async (t: TestContext) => {
    const host = await imageHost(t, { '/in.png': png });
    const [a, b, c] = await Promise.all([
      sdk.upscaleGan({
        inputImage: host.url('/in.png'),
        model: FAST,
        outputType: 'URL',
        outputFormat: 'WEBP',
      }),
      sdk.upscaleGan({ inputImage: dataUri(png), model: FAST, outputType: 'dataURI', outputFormat: 'PNG' }),
      sdk.upscaleGan({
        inputImage: png.toString('base64'),
        model: FAST,
        outputType: 'base64Data',
        outputFormat: 'JPG',
        outputQuality: 80,
      }),
    ]);
    const fetched = Buffer.from(await (await fetch(a.imageURL!)).arrayBuffer());
    assert.deepEqual(await sizeOf(fetched), { width: 96, height: 64, format: 'webp' });
    assert.equal(a.imageBase64Data, undefined);

    assert.match(b.imageDataURI!, /^data:image\/png;base64,/);
    const fromUri = Buffer.from(b.imageDataURI!.split(',')[1]!, 'base64');
    assert.deepEqual(await sizeOf(fromUri), { width: 96, height: 64, format: 'png' });
    assert.equal(b.imageURL, undefined);

    assert.deepEqual(await sizeOf(Buffer.from(c.imageBase64Data!, 'base64')), {
      width: 96,
      height: 64,
      format: 'jpeg',
    });
    assert.equal(new Set([a.imageUUID, b.imageUUID, c.imageUUID]).size, 3);
  });

  test(`runware sdk (${backend}): results stream back as each task ends, not in the order sent`, async (t: TestContext) => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const slowHost = await serveLoopback(t, (_req, res) => {
      void held.then(() => {
        res.setHeader('content-type', 'image/png');
        res.end(png);
      });
    });
    let slowDone = false;
    const slow = sdk
      .upscale({ inputImage: `${slowHost.origin}/held.png`, model: FAST, outputType: 'base64Data' })
      .finally(() => {
        slowDone = true;
      });
    await until(() => slowHost.received.length > 0, 30_000, 'the held input to be requested');
    const fast = await sdk.upscale({ inputImage: dataUri(png), model: FAST, outputType: 'base64Data' });
    assert.equal(fast.status, 'success');
    assert.equal(slowDone, false, 'the first task is still running while the second has answered');
    release();
    const s = await slow;
    assert.deepEqual(await sizeOf(Buffer.from(s.imageBase64Data!, 'base64')), {
      width: 96,
      height: 64,
      format: 'jpeg',
    });
  });

  test(`runware sdk (${backend}): deliveryMethod sync and async, includeCost`, async () => {
    const sync = await sdk.upscale({
      inputImage: dataUri(png),
      model: FAST,
      deliveryMethod: 'sync',
      includeCost: true,
    });
    assert.equal(sync.status, 'success');
    assert.equal(typeof sync.cost, 'number');
    assert.ok(sync.cost! > 0);

    // Async: the SDK takes the first frame as the acknowledgement, then polls getResponse.
    const async_ = await sdk.upscale({
      inputImage: dataUri(png),
      model: FAST,
      deliveryMethod: 'async',
      includeCost: true,
    });
    assert.equal(async_.status, 'success');
    assert.equal(async_.cost, sync.cost, 'the same work costs the same');
    const file = Buffer.from(await (await fetch(async_.imageURL!)).arrayBuffer());
    assert.deepEqual(await sizeOf(file), { width: 96, height: 64, format: 'jpeg' });

    // getResponse itself, through the SDK, on the finished task.
    const again = await sdk.getResponse<{ taskUUID: string; imageUUID: string; status: string }>({
      taskUUID: async_.taskUUID,
    });
    assert.equal(again[0]?.status, 'success');
    assert.equal(again[0]?.imageUUID, async_.imageUUID);
  });

  test(`runware sdk (${backend}): webhookURL and uploadEndpoint fire as they do over REST`, async (t: TestContext) => {
    const hook = await receiver(t);
    const bucket = await serveLoopback(t, (_req, res) => res.end());
    const r = await sdk.upscale({
      inputImage: dataUri(png),
      model: FAST,
      outputFormat: 'PNG',
      webhookURL: hook.url,
      uploadEndpoint: `${bucket.origin}/results/out.png`,
    });
    assert.equal(r.status, 'success');
    const put = await until(() => bucket.received.find((q) => q.method === 'PUT'), 30_000, 'the upload');
    assert.equal(put.url, '/results/out.png');
    assert.deepEqual(await sizeOf(put.body), { width: 96, height: 64, format: 'png' });
    const got = await until(() => hook.got[0], 30_000, 'the webhook');
    const body = JSON.parse(got.text);
    assert.equal(body.data[0].taskUUID, r.taskUUID);
    assert.equal(body.data[0].imageUUID, r.imageUUID);
  });

  test(`runware sdk (${backend}): an invalid parameter rejects with Runware's error for that task`, async () => {
    await assert.rejects(
      sdk.upscale({ inputImage: dataUri(png), model: FAST, upscaleFactor: 3 }),
      runwareError('invalidUpscaleFactor', (e) => {
        assert.equal(e.parameter, 'upscaleFactor');
        assert.equal(e.taskType, 'upscale');
        assert.match(String(e.taskUUID), UUID);
      }),
    );
    await assert.rejects(
      sdk.upscale({ inputImage: 'data:image/png;base64,bm90IGFuIGltYWdl', model: FAST }),
      runwareError('invalidInputImage', (e) => assert.match(String(e.message), /image/i)),
    );
    // The socket is still good after an error.
    const ok = await upload(sdk, dataUri(png));
    assert.match(ok.imageUUID, UUID);
  });

  test(`runware sdk (${backend}): a wrong key is reported as invalidApiKey and the SDK stops reconnecting`, async () => {
    const before = await connectionsOpened(node);
    const wrong = new Runware({ apiKey: 'not-a-key', url: wsUrl(node) });
    try {
      await assert.rejects(wrong.imageUpload({ image: dataUri(png) }), runwareError('invalidApiKey'));
      // The SDK reconnects 1 s after any other close; it must not after this one.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal((await connectionsOpened(node)) - before, 1);
    } finally {
      await wrong.disconnect();
    }
  });

  test(`runware sdk (${backend}): the heartbeat is answered`, async () => {
    // `beating` pings every 10 s (the SDK's floor) from its authentication on.
    await until(() => pongs.length > 0, 25_000, 'a pong');
    assert.deepEqual(pongs[0], { taskType: 'ping', pong: true });
    assert.equal((beating as unknown as { _missedPongCount: number })._missedPongCount, 0);
  });

  test(`runware sdk (${backend}): a server restart mid-session: the SDK reconnects and the next call works`, async () => {
    const up = await upload(sdk, dataUri(png));
    const closed = new Promise<number>((resolve) => socketOf(sdk).once('close', resolve));
    const port = new URL(node.url).port;
    const restartingWorker = node === workerNode;
    await node.close(1000);
    assert.equal(await closed, 1001, 'closed as "going away", which the SDK reconnects after');

    node = await startTestService(
      { ...env, PIXELIFT_DATA_DIR: node.dataDir, PIXELIFT_PORT: port },
      restartingWorker ? backend : 'embedded',
    );
    if (restartingWorker) workerNode = node;
    // The upload from before the restart is still there, and the same SDK object goes on.
    const r = await sdk.upscale({ inputImage: up.imageUUID, model: FAST, outputType: 'base64Data' });
    assert.equal(r.status, 'success');
    assert.equal(r.inputImageUUID, up.imageUUID);
  });
}
