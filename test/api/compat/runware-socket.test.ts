/**
 * Runware's WebSocket protocol frame by frame, with a plain `ws` client where the SDK would never
 * go: frames before authentication, wrong keys, the auth and idle timeouts, bad JSON, non-arrays,
 * unknown tasks, oversize frames, too many tasks in flight (per connection and per key), the
 * per-key task rate, and a reader that stops reading (the server stops reading it, so its queue
 * stays bounded, and catches up once the reader does).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, type TestContext, test } from 'node:test';
import sharp from 'sharp';
import WebSocket from 'ws';
import type { Json } from '../../helpers/compat.js';
import { serveLoopback } from '../../helpers/loopback.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';

const FAST = 'lanczos3';

/** A raw client: every frame it got, in order, and the close code. */
class Client {
  readonly frames: Json[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private wake: () => void = () => {};

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')));
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
  }

  static async open(svc: TestService): Promise<Client> {
    const ws = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/compat/runware/v1`, {
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new Client(ws);
  }

  /** Open and authenticate with `key`. */
  static async as(svc: TestService, key: string): Promise<Client> {
    const c = await Client.open(svc);
    c.send([{ taskType: 'authentication', apiKey: key }]);
    const f = await c.next((f) => f.data?.[0]?.taskType === 'authentication');
    assert.match(f.data[0].connectionSessionUUID, /^[0-9a-f-]{36}$/);
    return c;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame (not yet taken) that `match` accepts; taken from the list. */
  async next(match: (f: Json) => boolean = () => true, timeoutMs = 30_000): Promise<Json> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error(`closed; frames: ${JSON.stringify(this.frames)}`);
      if (Date.now() > end) throw new Error(`no matching frame; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  /** The answer for one task. */
  forTask(taskUUID: string, timeoutMs?: number): Promise<Json> {
    return this.next((f) => (f.data?.[0] ?? f.errors?.[0])?.taskUUID === taskUUID, timeoutMs);
  }

  close(): void {
    this.ws.terminate();
  }
}

const errorOf = (f: Json) => {
  assert.equal(f.data, undefined, JSON.stringify(f));
  assert.equal(f.errors.length, 1);
  return f.errors[0];
};

/** A loopback image URL whose answer waits until `release()`: tasks that stay in flight. */
async function heldImage(t: TestContext, png: Buffer) {
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  const server = await serveLoopback(t, (_req, res) => {
    void held.then(() => {
      res.setHeader('content-type', 'image/png');
      res.end(png);
    });
  });
  return { url: `${server.origin}/held.png`, release, requested: () => server.received.length };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let png: Buffer;
before(async () => {
  png = await testPng(24, 16);
});

// --- authentication, timeouts, bad frames --------------------------------------------------------

let guarded: TestService;
before(async () => {
  guarded = await startTestService({
    PIXELIFT_API_KEYS: 'rw_key,rw_key2,rw_soon_revoked',
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    // Short, yet long enough for a loaded 2-core CI runner to authenticate in time.
    PIXELIFT_WS_AUTH_TIMEOUT: '1.5',
    PIXELIFT_WS_IDLE_TIMEOUT: '3',
    PIXELIFT_WS_MAX_FRAME_BYTES: '4096',
  });
});
after(() => guarded?.close(1000));

test('runware socket: the handshake needs no key, but a task before authentication closes the socket (1008)', async () => {
  const c = await Client.open(guarded);
  const taskUUID = randomUUID();
  c.send([{ taskType: 'getResponse', taskUUID }]);
  const e = errorOf(await c.next());
  assert.equal(e.code, 'invalidApiKey');
  assert.equal(e.taskUUID, taskUUID);
  assert.match(e.message, /Authenticate first/);
  assert.equal((await c.closed).code, 1008);
});

test('runware socket: the open handshake opens nothing else: REST with an Upgrade header still needs a key', async () => {
  // node:http, not fetch: fetch will not send an Upgrade header.
  const send = (method: string, body?: string) =>
    new Promise<{ status: number; body: Json }>((resolve, reject) => {
      const req = http.request(`${guarded.url}/compat/runware/v1`, {
        method,
        headers: { upgrade: 'websocket', 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  const post = await send('POST', JSON.stringify([{ taskType: 'getResponse', taskUUID: randomUUID() }]));
  assert.equal(post.status, 401);
  assert.equal(post.body.errors[0].code, 'invalidApiKey');
  const get = await send('GET');
  assert.equal(get.status, 401);
});

test('runware socket: a wrong key gets invalidApiKey for the authentication task, then 1008', async () => {
  const c = await Client.open(guarded);
  c.send([{ taskType: 'authentication', apiKey: 'wrong' }]);
  const e = errorOf(await c.next());
  assert.equal(e.code, 'invalidApiKey');
  assert.equal(e.taskType, 'authentication');
  assert.equal(e.taskUUID, undefined, 'the SDK matches this error by taskType');
  assert.equal((await c.closed).code, 1008);
});

test('runware socket: a key revoked while its socket is open stops working at the next task (invalidApiKey, 1008)', async () => {
  const c = await Client.as(guarded, 'rw_soon_revoked');
  const first = randomUUID();
  c.send([{ taskType: 'getResponse', taskUUID: first }]);
  assert.equal(errorOf(await c.forTask(first)).code, 'taskNotFound');
  const stores = await guarded.openStores();
  try {
    const key = await stores.keys.authenticate('rw_soon_revoked');
    await stores.keys.revoke(key!.id);
  } finally {
    await stores.close();
  }
  const next = randomUUID();
  c.send([{ taskType: 'getResponse', taskUUID: next }]);
  assert.equal(errorOf(await c.forTask(next)).code, 'invalidApiKey');
  assert.equal((await c.closed).code, 1008);
});

test('runware socket: a socket that does not authenticate in time is closed (1008)', async () => {
  const c = await Client.open(guarded);
  const started = Date.now();
  const { code, reason } = await c.closed;
  assert.equal(code, 1008);
  assert.equal(reason, 'authentication timeout');
  assert.ok(Date.now() - started >= 1400, 'not before PIXELIFT_WS_AUTH_TIMEOUT');
});

test('runware socket: an authenticated socket idle past PIXELIFT_WS_IDLE_TIMEOUT is closed (1000); frames keep it open', async () => {
  const c = await Client.as(guarded, 'rw_key');
  const started = Date.now();
  // Pings every 0.5 s keep it open past the 3 s timeout…
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 500));
    c.send([{ taskType: 'ping', ping: true }]);
    assert.deepEqual((await c.next()).data, [{ taskType: 'ping', pong: true }]);
  }
  assert.ok(Date.now() - started > 3500);
  // …silence closes it.
  const { code, reason } = await c.closed;
  assert.equal(code, 1000);
  assert.equal(reason, 'idle');
});

test('runware socket: bad frames get Runware errors and the socket stays usable', async () => {
  const c = await Client.as(guarded, 'rw_key');
  c.send('{not json');
  assert.equal(errorOf(await c.next()).code, 'invalidJSON');
  for (const frame of ['42', 'null', '"upscale"', '[]']) {
    c.send(frame);
    assert.equal(errorOf(await c.next()).code, 'invalidTaskArray', frame);
  }
  const unknown = randomUUID();
  c.send([{ taskType: 'imageInference', taskUUID: unknown, positivePrompt: 'a cat' }]);
  const e = errorOf(await c.forTask(unknown));
  assert.equal(e.code, 'invalidTaskType');
  assert.equal(e.taskType, 'imageInference');
  c.send(['not a task']);
  assert.equal(errorOf(await c.next()).code, 'invalidTask');
  const missing = randomUUID();
  c.send([{ taskType: 'upscale', taskUUID: missing, model: FAST }]);
  const m = errorOf(await c.forTask(missing));
  assert.deepEqual([m.code, m.parameter], ['missingParameter', 'inputImage']);

  // One frame, two tasks: an answer each, in frames of their own.
  const a = randomUUID();
  const b = randomUUID();
  c.send([
    { taskType: 'getResponse', taskUUID: a },
    { taskType: 'imageUpload', taskUUID: b, image: dataUri(png) },
  ]);
  assert.equal(errorOf(await c.forTask(a)).code, 'taskNotFound');
  assert.equal((await c.forTask(b)).data[0].taskType, 'imageUpload');

  // More tasks in one frame than may run at once: one error for the frame, not one per task.
  c.send(Array.from({ length: 100 }, () => ({ taskType: 'ping', ping: true })));
  const tooMany = errorOf(await c.next());
  assert.equal(tooMany.code, 'invalidTaskArray');
  assert.match(tooMany.message, /at most 16 tasks/);

  c.send([{ taskType: 'ping', ping: true }]);
  assert.deepEqual((await c.next()).data, [{ taskType: 'ping', pong: true }]);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(c.frames, [], 'nothing else was sent');
  c.close();
});

test('runware socket: a frame over PIXELIFT_WS_MAX_FRAME_BYTES closes the socket with 1009', async () => {
  const c = await Client.as(guarded, 'rw_key');
  c.send([{ taskType: 'imageUpload', taskUUID: randomUUID(), image: 'A'.repeat(5000) }]);
  assert.equal((await c.closed).code, 1009);
  // The server is unharmed.
  const d = await Client.as(guarded, 'rw_key');
  d.close();
});

test('runware socket: an unknown connectionSessionUUID gets a session of its own', async () => {
  const d = await Client.open(guarded);
  const unknown = randomUUID();
  d.send([{ taskType: 'authentication', apiKey: 'rw_key', connectionSessionUUID: unknown }]);
  const id = (await d.next()).data[0].connectionSessionUUID;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.notEqual(id, unknown);
  d.close();
});

test('runware socket: a client that reconnects with its connectionSessionUUID gets the answers of tasks sent before the drop', async (t) => {
  const held = await heldImage(t, png);
  const c1 = await Client.open(guarded);
  c1.send([{ taskType: 'authentication', apiKey: 'rw_key' }]);
  const session = (await c1.next()).data[0].connectionSessionUUID;
  const taskUUID = randomUUID();
  c1.send([{ taskType: 'upscale', taskUUID, inputImage: held.url, model: FAST, outputType: 'base64Data' }]);
  await until(() => held.requested() >= 1, 'the held input to be requested');
  c1.close();
  await c1.closed;

  // The task ends while no socket is there to take its answer (seen over REST).
  held.release();
  const rest = async () => {
    const res = await fetch(`${guarded.url}/compat/runware/v1`, {
      method: 'POST',
      headers: { authorization: 'Bearer rw_key', 'content-type': 'application/json' },
      body: JSON.stringify([{ taskType: 'getResponse', taskUUID }]),
    });
    return ((await res.json()) as Json).data?.[0]?.status;
  };
  const end = Date.now() + 30_000;
  while ((await rest()) !== 'success') {
    assert.ok(Date.now() < end, 'the task to finish');
    await new Promise((r) => setTimeout(r, 200));
  }

  // Another key cannot take the session over.
  const stranger = await Client.open(guarded);
  stranger.send([{ taskType: 'authentication', apiKey: 'rw_key2', connectionSessionUUID: session }]);
  assert.notEqual((await stranger.next()).data[0].connectionSessionUUID, session);
  stranger.close();

  const c2 = await Client.open(guarded);
  c2.send([{ taskType: 'authentication', apiKey: 'rw_key', connectionSessionUUID: session }]);
  assert.equal(
    (await c2.next((f) => f.data?.[0]?.taskType === 'authentication')).data[0].connectionSessionUUID,
    session,
  );
  const f = await c2.forTask(taskUUID);
  assert.equal(f.data[0].status, 'success');
  assert.ok(f.data[0].imageBase64Data.length > 100);

  c2.send([{ taskType: 'ping', ping: true }]);
  assert.deepEqual((await c2.next()).data, [{ taskType: 'ping', pong: true }]);
  c2.close();
});

// --- tasks in flight and task rate ------------------------------------------------------------------

let limited: TestService;
before(async () => {
  limited = await startTestService({
    PIXELIFT_API_KEYS: 'rw_a,rw_b,rw_c',
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    PIXELIFT_WS_MAX_TASKS: '2',
    PIXELIFT_WS_MAX_TASKS_PER_KEY: '3',
    PIXELIFT_RATE_LIMIT: '20',
  });
});
after(() => limited?.close(1000));

test('runware socket: tasks past PIXELIFT_WS_MAX_TASKS (per connection) and _PER_KEY are refused at once; others run', async (t) => {
  const held = await heldImage(t, png);
  const task = () => ({
    taskType: 'upscale',
    taskUUID: randomUUID(),
    inputImage: held.url,
    model: FAST,
    outputType: 'base64Data',
  });
  const c1 = await Client.as(limited, 'rw_a');
  const c2 = await Client.as(limited, 'rw_a');
  const c3 = await Client.as(limited, 'rw_b');
  const [a1, a2, a3] = [task(), task(), task()];
  c1.send([a1, a2]);
  c1.send([a3]);
  const perConnection = errorOf(await c1.forTask(a3.taskUUID));
  assert.equal(perConnection.code, 'tooManyTasksInFlight');
  assert.match(perConnection.message, /at most 2 per connection/);

  const [b1, b2] = [task(), task()];
  c2.send([b1, b2]);
  const perKey = errorOf(await c2.forTask(b2.taskUUID));
  assert.equal(perKey.code, 'tooManyTasksInFlight');
  assert.match(perKey.message, /at most 3 per key/);

  const other = task();
  c3.send([other]);
  await until(() => held.requested() >= 4, 'four held inputs to be requested');
  held.release();
  for (const [c, t] of [
    [c1, a1],
    [c1, a2],
    [c2, b1],
    [c3, other],
  ] as const) {
    const f = await c.forTask(t.taskUUID);
    assert.equal(f.data?.[0]?.status, 'success', JSON.stringify(f));
  }
  // Finished tasks free their places.
  const again = { ...task(), inputImage: dataUri(png) };
  c2.send([again]);
  assert.equal((await c2.forTask(again.taskUUID)).data[0].status, 'success');
  for (const c of [c1, c2, c3]) c.close();
});

test('runware socket: tasks past PIXELIFT_RATE_LIMIT per key per minute get rateLimitExceeded', async () => {
  const c = await Client.as(limited, 'rw_c');
  for (let i = 0; i < 20; i++) {
    const taskUUID = randomUUID();
    c.send([{ taskType: 'getResponse', taskUUID }]);
    assert.equal(errorOf(await c.forTask(taskUUID)).code, 'taskNotFound');
  }
  const over = randomUUID();
  c.send([{ taskType: 'getResponse', taskUUID: over }]);
  const e = errorOf(await c.forTask(over));
  assert.equal(e.code, 'rateLimitExceeded');
  // Another key has its own budget.
  const d = await Client.as(limited, 'rw_b');
  const fine = randomUUID();
  d.send([{ taskType: 'getResponse', taskUUID: fine }]);
  assert.equal(errorOf(await d.forTask(fine)).code, 'taskNotFound');
  c.close();
  d.close();
});

// --- backpressure --------------------------------------------------------------------------------

let pressured: TestService;
const MAX_BUFFERED = 256 * 1024;
before(async () => {
  pressured = await startTestService({
    PIXELIFT_API_KEYS: 'rw_key',
    PIXELIFT_WS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
    PIXELIFT_WS_MAX_TASKS: '4',
  });
});
after(() => pressured?.close(1000));

async function bufferedBytes(svc: TestService): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  return Number(/^pixelift_runware_ws_buffered_bytes (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

test('runware socket: a reader that stops reading is not read either: the server queue stays bounded, and nothing is lost', async (t) => {
  // A ~1 MB answer: a noise PNG (incompressible) upscaled, as base64, re-read by every getResponse.
  const noise = await sharp(randomBytes(256 * 256 * 3), { raw: { width: 256, height: 256, channels: 3 } })
    .png()
    .toBuffer();
  const c = await Client.as(pressured, 'rw_key');
  const taskUUID = randomUUID();
  c.send([
    {
      taskType: 'upscale',
      taskUUID,
      inputImage: dataUri(noise),
      model: FAST,
      outputType: 'base64Data',
      outputFormat: 'PNG',
    },
  ]);
  const answerBytes = JSON.stringify(await c.forTask(taskUUID, 60_000)).length;
  assert.ok(answerBytes > 500_000, `answer ${answerBytes} bytes`);

  const asks = 60; // ~60 MB of answers if the server kept producing them for a reader that does not read
  c.ws.pause();
  let peak = 0;
  for (let i = 0; i < asks; i++) {
    c.send([{ taskType: 'getResponse', taskUUID }]);
    await new Promise((r) => setTimeout(r, 10));
    if (i % 5 === 4) peak = Math.max(peak, await bufferedBytes(pressured));
  }
  await new Promise((r) => setTimeout(r, 500));
  peak = Math.max(peak, await bufferedBytes(pressured));
  // The kernel's socket buffers take a few MB first; past them the server queues at most its
  // limit plus the answers of the tasks already running (4) before it stops reading.
  t.diagnostic(`answer ${answerBytes} B, ${asks} asked, peak queued ${peak} B (limit ${MAX_BUFFERED} B)`);
  assert.ok(peak > MAX_BUFFERED, `the test must reach the limit (peak ${peak})`);
  assert.ok(peak < MAX_BUFFERED + 5 * answerBytes, `peak ${peak} bytes queued`);

  c.ws.resume();
  // Every ask is answered once the reader reads again: the result, or (asks read in one burst
  // after the pause) a refusal for too many tasks in flight; none is dropped.
  const answers = [];
  for (let i = 0; i < asks; i++) answers.push(await c.forTask(taskUUID, 60_000));
  const full = answers.filter((a) => a.data?.[0]?.imageBase64Data);
  const refused = answers.filter((a) => a.errors?.[0]?.code === 'tooManyTasksInFlight');
  assert.equal(full.length + refused.length, asks);
  assert.ok(full.length >= 4);
  c.close();
});
