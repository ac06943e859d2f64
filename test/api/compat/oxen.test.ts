/**
 * Oxen dialect: the docs' own examples (Topaz Image Upscaler page: Sync, Async and Async with
 * SSE, each Minimal and All parameters) replayed against /compat/oxen with only the base URL and
 * the image URL changed; the SSE stream read the way the docs' Python loop and awk filter read it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { imageHost, type Json, json, sizeOf, truncated, until } from '../../helpers/compat.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';

const KEY = 'ox_test_key';
const MODEL = 'topazlabs-image-upscale';
/** The docs' example image path, served on loopback. */
const DOCS_IMAGE =
  '/api/repos/ox/Oxen-Character-Simple-Vector-Graphic/file/main/images/reference/bloxy_white_bg.png';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

let svc: TestService;
let png: Buffer;

before(async () => {
  png = await testPng(48, 32);
  svc = await startTestService({
    PIXELIFT_API_KEYS: `${KEY},ox_poor_key:0`,
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    // Heartbeats every second: a stream reader gets a line soon after whatever it waits for.
    PIXELIFT_SSE_HEARTBEAT: '1',
  });
});
after(() => svc?.close());

const BASE = '/compat/oxen';
const AUTH = { Authorization: `Bearer ${KEY}` };

/** The docs' "Minimal" body. */
const minimal = (imageUrl: string) => ({ model: MODEL, input_image: imageUrl });
/** The docs' "All parameters" body. */
const allParameters = (imageUrl: string) => ({
  model: MODEL,
  input_image: imageUrl,
  enhance_model: 'High Fidelity V2',
  upscale_factor: '2x',
  output_format: 'png',
});

const post = (path: string, body: unknown, headers: Record<string, string> = AUTH) =>
  svc.call(`${BASE}${path}`, { method: 'POST', headers, json: body });
const get = (path: string, headers: Record<string, string> = AUTH) => svc.call(`${BASE}${path}`, { headers });

async function download(url: string) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return sizeOf(Buffer.from(await res.arrayBuffer()));
}

/** `.generations[0].generation_id` of an enqueue, as the docs' jq and Python read it. */
async function enqueue(body: unknown): Promise<string> {
  const res = await post('/api/ai/queue', body);
  assert.equal(res.status, 200, await res.clone().text());
  const out = await json(res);
  assert.equal(out.generations.length, 1);
  assert.equal(out.generations[0].status, 'queued');
  return out.generations[0].generation_id;
}

/** The docs' polling loop: GET until succeeded | failed | cancelled. */
async function pollUntilDone(id: string): Promise<Json> {
  return until(async () => {
    const data = await json(await get(`/api/ai/queue/${id}`));
    return TERMINAL.has(data.status) ? data : undefined;
  });
}

/**
 * Reads GET /api/events line by line (as `requests.iter_lines()` and awk see it) and hands each
 * line to `onLine` until it returns true.
 */
async function readLines(onLine: (line: string) => boolean, timeoutMs = 60_000): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await svc.call(`${BASE}/api/events`, { headers: AUTH, signal: controller.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (onLine(line)) return;
      }
    }
    assert.fail('the stream ended');
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** The docs' Python loop over the stream. */
function pythonReader(generationId: string) {
  let eventName: string | undefined;
  const state = { payload: undefined as Json };
  return {
    state,
    onLine(line: string): boolean {
      if (line.startsWith('event: ')) eventName = line.slice('event: '.length);
      else if (line.startsWith('data: ') && eventName === 'media_generation_completed') {
        const payload = JSON.parse(line.slice('data: '.length));
        if (payload.generation_id === generationId) {
          state.payload = payload;
          return true;
        }
      }
      return false;
    },
  };
}

/** The docs' awk filter: the data line after `event: media_generation_completed` holding `"generation_id":"ID"`. */
function awkReader(id: string) {
  let expect = false;
  const state = { printed: undefined as string | undefined };
  return {
    state,
    onLine(line: string): boolean {
      if (/^event: media_generation_completed$/.test(line)) {
        expect = true;
        return false;
      }
      if (/^data: /.test(line) && expect) {
        const payload = line.slice(6); // substr($0, 7)
        if (payload.includes(`"generation_id":"${id}"`)) {
          state.printed = payload;
          return true;
        }
        expect = false;
      }
      return false;
    },
  };
}

/** Both readers over one stream, until both have their event. */
async function docsSseReaders(id: string) {
  const py = pythonReader(id);
  const awk = awkReader(id);
  let pyDone = false;
  let awkDone = false;
  await readLines((line) => {
    pyDone ||= py.onLine(line);
    awkDone ||= awk.onLine(line);
    return pyDone && awkDone;
  });
  return { python: py.state.payload, awk: JSON.parse(awk.state.printed!) };
}

test('oxen sync: the docs Minimal and All-parameters examples answer {model, created, images: [{url}]}', async (t) => {
  const images = await imageHost(t, { [DOCS_IMAGE]: png });
  for (const body of [minimal(images.url(DOCS_IMAGE)), allParameters(images.url(DOCS_IMAGE))]) {
    const before = Math.floor(Date.now() / 1000);
    const res = await post('/api/ai/images/edit', body);
    assert.equal(res.status, 200, await res.clone().text()); // response.raise_for_status()
    const out = await json(res);
    assert.equal(out.model, MODEL);
    assert.ok(Number.isInteger(out.created) && out.created >= before - 1 && out.created <= before + 120);
    assert.equal(out.images.length, 1);
    assert.deepEqual(Object.keys(out.images[0]), ['url']);
    // Defaults: 2x, png.
    assert.deepEqual(await download(out.images[0].url), { width: 96, height: 64, format: 'png' });
    assert.match(out.generation_id, UUID);
    assert.deepEqual(out.warnings, []);
  }
});

test('oxen sync: 4x, jpg and response_format b64_json; a data URI as input_image', async (t) => {
  const images = await imageHost(t, { '/in.png': png });
  const res = await post('/api/ai/images/edit', {
    model: MODEL,
    input_image: images.url('/in.png'),
    enhance_model: 'Standard V2',
    upscale_factor: '4x',
    output_format: 'jpg',
    response_format: 'b64_json',
  });
  assert.equal(res.status, 200, await res.clone().text());
  const out = await json(res);
  assert.deepEqual(Object.keys(out.images[0]), ['b64_json']);
  const bytes = Buffer.from(out.images[0].b64_json, 'base64');
  assert.deepEqual(await sizeOf(bytes), { width: 192, height: 128, format: 'jpeg' });

  const inline = await json(await post('/api/ai/images/edit', { model: MODEL, input_image: dataUri(png) }));
  assert.deepEqual(await download(inline.images[0].url), { width: 96, height: 64, format: 'png' });
});

test('oxen async: the docs Minimal and All-parameters examples enqueue and poll to succeeded with result_url', async (t) => {
  const images = await imageHost(t, { [DOCS_IMAGE]: png });
  for (const body of [minimal(images.url(DOCS_IMAGE)), allParameters(images.url(DOCS_IMAGE))]) {
    const id = await enqueue(body);
    assert.match(id, UUID);
    const data = await pollUntilDone(id);
    assert.equal(data.status, 'succeeded', JSON.stringify(data));
    assert.equal(data.generation_id, id);
    assert.equal(data.model, MODEL);
    assert.equal(data.media_type, 'image');
    assert.equal(data.error_message, null);
    assert.ok(Number.isInteger(data.created_at));
    assert.ok(data.completed_at >= data.created_at);
    // The parameters that queued it, defaults filled in.
    assert.equal(data.input_image, images.url(DOCS_IMAGE));
    assert.equal(data.enhance_model, 'High Fidelity V2');
    assert.equal(data.upscale_factor, '2x');
    assert.equal(data.output_format, 'png');
    assert.deepEqual(data.warnings, []);
    assert.equal(data.pixelift.model.requested, 'High Fidelity V2');
    assert.deepEqual(await download(data.result_url), { width: 96, height: 64, format: 'png' });
  }
});

test('oxen async with SSE: the docs examples find media_generation_completed for their id, Python and awk alike', async (t) => {
  const images = await imageHost(t, { [DOCS_IMAGE]: png });
  for (const body of [minimal(images.url(DOCS_IMAGE)), allParameters(images.url(DOCS_IMAGE))]) {
    // As in the docs: enqueue first, subscribe after (the generation may have ended already).
    const id = await enqueue(body);
    const { python, awk } = await docsSseReaders(id);
    assert.deepEqual(python, awk);
    assert.equal(python.generation_id, id);
    assert.equal(python.status, 'succeeded');
    assert.equal(python.model, MODEL);
    assert.deepEqual(await download(python.result_url), { width: 96, height: 64, format: 'png' });
  }
  // Subscribed first, enqueued once the stream is open: the event arrives live, with its id line.
  let id = '';
  const lines: string[] = [];
  await readLines((line) => {
    lines.push(line);
    if (line.startsWith('retry:')) {
      enqueue(minimal(images.url(DOCS_IMAGE))).then(
        (got) => {
          id = got;
        },
        (err: unknown) => {
          lines.push(`enqueue failed: ${err}`);
        },
      );
    }
    return id !== '' && lines.some((l) => l.includes(`"generation_id":"${id}"`));
  });
  const at = lines.findIndex((l) => l.includes(`"generation_id":"${id}"`));
  assert.equal(lines[at - 1], 'event: media_generation_completed');
  assert.match(lines[at - 2] ?? '', /^id: \d+$/);
});

test('oxen: a generation that fails is failed with error_message (queue, SSE, sync)', async (t) => {
  const images = await imageHost(t, { '/broken.png': truncated(await testPng(64, 64)) });
  const id = await enqueue(minimal(images.url('/broken.png')));
  const data = await pollUntilDone(id);
  assert.equal(data.status, 'failed');
  assert.equal(typeof data.error_message, 'string');
  assert.ok(data.error_message.length > 0);
  assert.equal(data.result_url, null);

  // The stream says media_generation_failed with the same entry (replayed: it ended just now).
  let eventName = '';
  let failed: Json;
  await readLines((line) => {
    if (line.startsWith('event: ')) eventName = line.slice(7);
    else if (line.startsWith('data: ')) {
      const payload = JSON.parse(line.slice(6));
      if (payload.generation_id === id) {
        failed = { event: eventName, payload };
        return true;
      }
    }
    return false;
  });
  assert.equal(failed.event, 'media_generation_failed');
  assert.equal(failed.payload.status, 'failed');
  assert.equal(failed.payload.error_message, data.error_message);

  const sync = await post('/api/ai/images/edit', minimal(images.url('/broken.png')));
  assert.equal(sync.status, 422);
  const err = await json(sync);
  assert.equal(err.status, 'error');
  assert.equal(err.code, 'image_unreadable');
  assert.equal(err.status_description, data.error_message);
  assert.match(err.generation_id, UUID);
});

test('oxen: DELETE /api/ai/queue/{id} cancels; the default list shows generations in flight; status= pages', async (t) => {
  const images = await imageHost(t, { '/big.png': await testPng(256, 256), '/in.png': png });
  const id = await enqueue({ model: MODEL, input_image: images.url('/big.png'), upscale_factor: '4x' });
  const active = await json(await get('/api/ai/queue'));
  const mine = active.generations.find((g: Json) => g.generation_id === id);
  assert.ok(mine, 'the default list holds the generation in flight');
  for (const g of active.generations) assert.ok(['queued', 'processing'].includes(g.status), g.status);

  const del = await svc.call(`${BASE}/api/ai/queue/${id}`, { method: 'DELETE', headers: AUTH });
  assert.equal(del.status, 200);
  const cancelled = await json(del);
  assert.equal(cancelled.generation_id, id);
  assert.equal(cancelled.status, 'cancelled');
  const after = await json(await get(`/api/ai/queue/${id}`));
  assert.equal(after.status, 'cancelled');
  assert.equal(typeof after.error_message, 'string');
  assert.ok(!(await json(await get('/api/ai/queue'))).generations.some((g: Json) => g.generation_id === id));
  const again = await svc.call(`${BASE}/api/ai/queue/${id}`, { method: 'DELETE', headers: AUTH });
  assert.equal(again.status, 409);
  assert.equal((await json(again)).status_message, 'conflict');

  // status=cancelled finds it; status=succeeded pages newest first.
  const c = await json(await get('/api/ai/queue?status=cancelled'));
  assert.ok(c.generations.some((g: Json) => g.generation_id === id));
  const a = await enqueue(minimal(images.url('/in.png')));
  const b = await enqueue(minimal(images.url('/in.png')));
  await pollUntilDone(a);
  await pollUntilDone(b);
  const page1 = await json(await get('/api/ai/queue?status=succeeded&limit=1'));
  assert.equal(page1.generations.length, 1);
  assert.equal(page1.generations[0].generation_id, b);
  assert.equal(page1.has_more, true);
  const page2 = await json(
    await get(`/api/ai/queue?status=succeeded&limit=1&cursor=${encodeURIComponent(page1.next_cursor)}`),
  );
  assert.equal(page2.generations[0].generation_id, a);
  const other = await json(await get('/api/ai/queue?status=all&model=flux-2-dev'));
  assert.deepEqual(other.generations, []);
});

test('oxen: queue parameters Pixelift cannot honour become warnings on the entry', async (t) => {
  const images = await imageHost(t, { '/in.png': png });
  const res = await post('/api/ai/queue', {
    ...minimal(images.url('/in.png')),
    num_generations: 2,
    target_namespace: 'my-org',
    response_format: 'b64_json',
  });
  assert.equal(res.status, 200);
  const { generations } = await json(res);
  assert.equal(generations.length, 2);
  assert.notEqual(generations[0].generation_id, generations[1].generation_id);
  for (const g of generations) {
    assert.ok(
      g.warnings.some((w: string) => /target_namespace "my-org"/.test(w)),
      g.warnings.join('\n'),
    );
    assert.ok(g.warnings.some((w: string) => /response_format "b64_json"/.test(w)));
    const done = await pollUntilDone(g.generation_id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.warnings, g.warnings);
  }
});

test('oxen: GET /api/ai/models/topazlabs-image-upscale publishes the request schema the routes validate with', async () => {
  const res = await get(`/api/ai/models/${MODEL}`);
  assert.equal(res.status, 200);
  const model = await json(res);
  assert.equal(model.id, MODEL);
  assert.equal(model.object, 'model');
  const schema = model.json_request_schema;
  assert.deepEqual(model.request_schema, schema);
  assert.ok(schema.required.includes('input_image'));
  assert.equal(schema.properties.input_image.format, 'uri');
  assert.deepEqual([...schema.properties.enhance_model.enum].sort(), [
    'CGI',
    'High Fidelity V2',
    'Low Resolution V2',
    'Standard V2',
    'Text Refine',
  ]);
  assert.equal(schema.properties.enhance_model.default, 'High Fidelity V2');
  assert.deepEqual([...schema.properties.upscale_factor.enum].sort(), ['2x', '4x']);
  assert.equal(schema.properties.upscale_factor.default, '2x');
  assert.deepEqual([...schema.properties.output_format.enum].sort(), ['jpg', 'png']);
  assert.equal(schema.properties.output_format.default, 'png');
  assert.equal(model.pixelift.enhance_models['High Fidelity V2'].model, 'rrdn-thick');

  // What the schema refuses, the route refuses, naming the field.
  const bad = await json(
    await post('/api/ai/images/edit', { model: MODEL, input_image: 'x', upscale_factor: '8x' }),
  );
  assert.equal(bad.param, 'input_image');

  const list = await json(await get('/api/ai/models'));
  assert.deepEqual(
    list.data.map((m: Json) => m.id),
    [MODEL],
  );
  const unknown = await get('/api/ai/models/flux-2-dev');
  assert.equal(unknown.status, 404);
  assert.equal((await json(unknown)).status_message, 'resource_not_found');
});

test('oxen: errors come as {status: "error", status_message, status_description} with 400/401/402/404', async () => {
  const url = 'http://127.0.0.1:9/x.png';
  const noKey = await post('/api/ai/images/edit', minimal(url), {});
  assert.equal(noKey.status, 401);
  const nk = await json(noKey);
  assert.equal(nk.status, 'error');
  assert.equal(nk.status_message, 'unauthenticated');
  assert.match(nk.status_description, /API key/);
  assert.equal((await get('/api/events', {})).status, 401);

  const threeX = await post('/api/ai/queue', { ...minimal(url), upscale_factor: '3x' });
  assert.equal(threeX.status, 400);
  const tx = await json(threeX);
  assert.equal(tx.status_message, 'bad_request');
  assert.equal(tx.param, 'upscale_factor');
  assert.match(tx.status_description, /upscale_factor/);

  for (const [body, field] of [
    [{ ...minimal(url), seed: 1 }, 'seed'],
    [{ model: MODEL }, 'input_image'],
    [{ ...minimal(url), model: 'flux-2-dev' }, 'model'],
    [{ ...minimal(url), enhance_model: 'Wonder' }, 'enhance_model'],
    [{ ...minimal(url), output_format: 'webp' }, 'output_format'],
    [{ ...minimal(url), upscale_factor: 2 }, 'upscale_factor'],
    [{ ...minimal(url), num_generations: 5 }, 'num_generations'],
  ] as const) {
    const res = await post('/api/ai/queue', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal((await json(res)).param, field, JSON.stringify(body));
  }

  const poor = await post(
    '/api/ai/images/edit',
    { model: MODEL, input_image: dataUri(png) },
    {
      Authorization: 'Bearer ox_poor_key',
    },
  );
  assert.equal(poor.status, 402);
  assert.equal((await json(poor)).status_message, 'insufficient_credits');

  for (const id of ['0b6f3a5e-4a47-4f55-9d43-7d4d1d0e8f10', 'nope']) {
    const missing = await get(`/api/ai/queue/${id}`);
    assert.equal(missing.status, 404);
    const m = await json(missing);
    assert.equal(m.status, 'error');
    assert.equal(m.status_message, 'resource_not_found');
  }
  const route = await get('/api/ai/nothing-here');
  assert.equal(route.status, 404);
  assert.equal((await json(route)).status_message, 'resource_not_found');
});

test('oxen sync: a job that outlasts PIXELIFT_MAX_WAIT answers 504 and says where to poll', async (t) => {
  const short = await startTestService({
    PIXELIFT_API_KEYS: KEY,
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
    PIXELIFT_MAX_WAIT: '0',
  });
  t.after(() => short.close());
  const images = await imageHost(t, { '/big.png': await testPng(256, 256) });
  const res = await short.call(`${BASE}/api/ai/images/edit`, {
    method: 'POST',
    headers: AUTH,
    json: { model: MODEL, input_image: images.url('/big.png'), upscale_factor: '4x' },
  });
  assert.equal(res.status, 504);
  const err = await json(res);
  assert.equal(err.status, 'error');
  assert.equal(err.status_message, 'gateway_timeout');
  assert.equal(err.code, 'wait_timeout');
  const id = /\/api\/ai\/queue\/([0-9a-f-]{36})/.exec(err.status_description)?.[1];
  assert.ok(id, err.status_description);
  const entry = await json(await short.call(`${BASE}/api/ai/queue/${id}`, { headers: AUTH }));
  assert.ok(['queued', 'processing'].includes(entry.status), entry.status);
  await short.call(`${BASE}/api/ai/queue/${id}`, { method: 'DELETE', headers: AUTH });
});
