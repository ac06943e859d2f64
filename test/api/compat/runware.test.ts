/**
 * Runware dialect: the docs' request examples replayed against /compat/runware with only the base
 * URL and the image changed; every documented upscale field, task arrays, getResponse, the
 * 4096×4096 cap with input downscale, webhooks, and the `{errors: [...]}` shape.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { imageHost, type Json, json, receiver, sizeOf, until } from '../../helpers/compat.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';

const KEY = 'rw_test_key';
let svc: TestService;
let png: Buffer;

before(async () => {
  png = await testPng(48, 32);
  svc = await startTestService({
    PIXELIFT_API_KEYS: `${KEY},rw_poor:0`,
    PIXELIFT_ALLOW_PRIVATE_URLS: 'true',
  });
});
after(() => svc?.close());

/** Where the model does not matter, Pixelift's own fast classical one keeps the test quick on a CPU. */
const FAST = 'lanczos3';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function post(tasks: unknown, key = KEY) {
  return svc.call('/compat/runware/v1', {
    method: 'POST',
    headers: key ? { Authorization: `Bearer ${key}` } : {},
    json: tasks,
  });
}

async function upload(image: string): Promise<string> {
  const res = await post([{ taskType: 'imageUpload', taskUUID: randomUUID(), image }]);
  assert.equal(res.status, 200);
  const body = await json(res);
  assert.match(body.data[0].imageUUID, UUID);
  return body.data[0].imageUUID;
}

test('runware: imageUpload, then the docs request example (UUID input, URL output, jpg)', async () => {
  const inputUUID = await upload(dataUri(png));
  const taskUUID = randomUUID();
  // The docs' "basic structure" request, with its inputImage replaced by our upload's UUID.
  const res = await post([
    {
      taskType: 'upscale',
      taskUUID,
      inputImage: inputUUID,
      model: 'runware:501@1',
      outputType: 'URL',
      outputFormat: 'jpg',
      upscaleFactor: 2,
    },
  ]);
  assert.equal(res.status, 200);
  const body = await json(res);
  assert.equal(body.errors, undefined);
  assert.equal(body.data.length, 1);
  const d = body.data[0];
  assert.equal(d.taskType, 'upscale');
  assert.equal(d.taskUUID, taskUUID);
  assert.match(d.imageUUID, UUID);
  assert.notEqual(d.imageUUID, taskUUID);
  assert.equal(d.inputImageUUID, inputUUID);
  assert.equal(d.cost, undefined, 'cost only with includeCost');
  assert.ok(
    d.warnings.some((w: string) => /CCSR/.test(w)),
    'CCSR is generative: served by the closest model, with a warning',
  );
  const file = Buffer.from(await (await fetch(d.imageURL)).arrayBuffer());
  assert.deepEqual(await sizeOf(file), { width: 96, height: 64, format: 'jpeg' });

  // The output is an image too: its UUID feeds the next task (SwinIR, 4x, PNG, cost included).
  const next = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: d.imageUUID,
        model: 'runware:503@1',
        upscaleFactor: 4,
        outputFormat: 'PNG',
        includeCost: true,
      },
    ]),
  );
  assert.equal(next.data[0].inputImageUUID, d.imageUUID);
  assert.equal(typeof next.data[0].cost, 'number');
  assert.ok(next.data[0].cost > 0);
  const out = Buffer.from(await (await fetch(next.data[0].imageURL)).arrayBuffer());
  assert.deepEqual(await sizeOf(out), { width: 384, height: 256, format: 'png' });
});

test('runware: the settings example (Clarity with creative settings) runs with a warning; unsupported settings are refused', async () => {
  const inputUUID = await upload(png.toString('base64'));
  const taskUUID = randomUUID();
  const body = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID,
        inputImage: inputUUID,
        model: 'runware:500@1',
        settings: {
          steps: 20,
          strength: 0.35,
          CFGScale: 6,
          controlNetWeight: 0.6,
          positivePrompt: 'high quality, detailed, sharp',
        },
      },
    ]),
  );
  assert.equal(body.data[0].taskUUID, taskUUID);
  assert.ok(body.data[0].warnings.some((w: string) => /settings \(steps, strength, CFGScale/.test(w)));
  const file = Buffer.from(await (await fetch(body.data[0].imageURL)).arrayBuffer());
  assert.deepEqual(
    await sizeOf(file),
    { width: 96, height: 64, format: 'jpeg' },
    'upscaleFactor defaults to 2',
  );

  // clipSkip is not in Clarity's column of the compatibility table.
  const bad = await post([
    {
      taskType: 'upscale',
      taskUUID: randomUUID(),
      inputImage: inputUUID,
      model: 'runware:500@1',
      settings: { clipSkip: 1 },
    },
  ]);
  assert.equal(bad.status, 400);
  const e = (await json(bad)).errors[0];
  assert.equal(e.code, 'unsupportedParameter');
  assert.equal(e.parameter, 'settings.clipSkip');
});

test('runware: inputImage as data URI, bare base64 and URL; outputType base64Data and dataURI; several tasks in one array', async (t) => {
  const images = await imageHost(t, { '/photo.png': png });
  const tasks = [
    {
      taskType: 'upscale',
      taskUUID: randomUUID(),
      inputImage: dataUri(png),
      model: FAST,
      upscaleFactor: 2,
      outputType: 'base64Data',
      outputFormat: 'PNG',
    },
    {
      taskType: 'upscale',
      taskUUID: randomUUID(),
      inputImage: png.toString('base64'),
      model: FAST,
      upscaleFactor: 2,
      outputType: 'dataURI',
      outputFormat: 'WEBP',
      outputQuality: 80,
    },
    {
      taskType: 'upscale',
      taskUUID: randomUUID(),
      inputImage: images.url('/photo.png'),
      model: FAST,
      upscaleFactor: 2,
    },
    {
      taskType: 'upscale',
      taskUUID: randomUUID(),
      inputImage: dataUri(png),
      model: FAST,
      outputQuality: 10,
    },
  ];
  const res = await post(tasks);
  assert.equal(res.status, 200, 'some tasks succeeded');
  const body = await json(res);
  assert.deepEqual(
    body.data.map((d: Json) => d.taskUUID),
    tasks.slice(0, 3).map((t) => t.taskUUID),
    'data in task order, taskUUID echoed',
  );
  const [b64, uri, url] = body.data;
  assert.deepEqual(await sizeOf(Buffer.from(b64.imageBase64Data, 'base64')), {
    width: 96,
    height: 64,
    format: 'png',
  });
  assert.equal(b64.imageURL, undefined);
  assert.match(uri.imageDataURI, /^data:image\/webp;base64,/);
  assert.deepEqual(await sizeOf(Buffer.from(uri.imageDataURI.split(',')[1], 'base64')), {
    width: 96,
    height: 64,
    format: 'webp',
  });
  assert.equal(typeof url.imageURL, 'string');
  assert.equal(body.errors.length, 1);
  assert.deepEqual(
    { ...body.errors[0], message: undefined },
    {
      code: 'invalidOutputQuality',
      message: undefined,
      parameter: 'outputQuality',
      taskType: 'upscale',
      taskUUID: tasks[3]!.taskUUID,
    },
  );
});

test('runware: the 4096x4096 cap — a 2048x2048 input at 4x is reduced to 1024x1024 first', async () => {
  const big = await sharp({ create: { width: 2048, height: 2048, channels: 3, background: '#4080c0' } })
    .png()
    .toBuffer();
  const wide = await sharp({ create: { width: 3000, height: 1000, channels: 3, background: '#c08040' } })
    .png()
    .toBuffer();
  // Pixelift's own model ids are accepted too; lanczos3 keeps this test fast on a CPU.
  const body = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: dataUri(big),
        model: 'lanczos3',
        upscaleFactor: 4,
        outputFormat: 'PNG',
      },
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: dataUri(wide),
        model: 'lanczos3',
        upscaleFactor: 2,
        outputFormat: 'PNG',
      },
    ]),
  );
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const sizes = await Promise.all(
    body.data.map(async (d: Json) => sizeOf(Buffer.from(await (await fetch(d.imageURL)).arrayBuffer()))),
  );
  assert.deepEqual(sizes[0], { width: 4096, height: 4096, format: 'png' });
  assert.equal(sizes[1].width, 4096);
  assert.ok(Math.abs(sizes[1].height - 1365) <= 1, String(sizes[1].height));
  assert.ok(
    body.data[0].warnings.some((w: string) =>
      /4096x4096 px limit; the input was downscaled from 2048x2048 to 1024x1024/.test(w),
    ),
  );
});

test('runware: deliveryMethod async → acknowledged, getResponse until success; webhookURL gets {data: [...]}', async (t) => {
  const hook = await receiver(t);
  const taskUUID = randomUUID();
  const ack = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID,
        inputImage: dataUri(png),
        model: FAST,
        upscaleFactor: 2,
        deliveryMethod: 'async',
        webhookURL: `${hook.url}?token=abc`,
        ttl: 120,
      },
    ]),
  );
  assert.equal(ack.data[0].taskUUID, taskUUID);
  assert.equal(ack.data[0].imageURL, undefined);
  const done: Json = await until(async () => {
    const r = await json(await post([{ taskType: 'getResponse', taskUUID }]));
    return r.data?.[0]?.status === 'success' ? r.data[0] : undefined;
  });
  assert.equal(done.taskType, 'upscale');
  assert.match(done.imageUUID, UUID);
  const got = await until(() => hook.got[0], 30_000, 'the webhook');
  assert.equal(got.url, '/webhook?token=abc', 'query-string tokens kept');
  const payload = JSON.parse(got.text);
  assert.equal(payload.data[0].taskUUID, taskUUID);
  assert.equal(payload.data[0].imageUUID, done.imageUUID);
  // ttl: the link expires with the result, 120 s after the job ended.
  const native = await json(
    await svc.call(`/v1/jobs/job_${done.imageUUID.replace(/-/g, '')}`, {
      headers: { Authorization: `Bearer ${KEY}` },
    }),
  );
  const kept = Date.parse(native.expires_at) - Date.parse(native.finished_at);
  assert.ok(Math.abs(kept - 120_000) < 2000, String(kept));
});

test('runware: a resent task is the same task; a different task with the same taskUUID is refused', async () => {
  const task = {
    taskType: 'upscale',
    taskUUID: randomUUID(),
    inputImage: dataUri(png),
    model: FAST,
    upscaleFactor: 2,
  };
  const first = await json(await post([task]));
  const again = await json(await post([task]));
  assert.equal(again.data[0].imageUUID, first.data[0].imageUUID);
  const clash = await post([{ ...task, upscaleFactor: 4 }]);
  assert.equal(clash.status, 422);
  assert.equal((await json(clash)).errors[0].code, 'duplicateTaskUUID');
});

test('runware: errors come as {errors: [{code, message, parameter, taskType, taskUUID}]}', async () => {
  const noKey = await post([{ taskType: 'upscale', taskUUID: randomUUID() }], '');
  assert.equal(noKey.status, 401);
  assert.equal((await json(noKey)).errors[0].code, 'invalidApiKey');

  const taskUUID = randomUUID();
  const missing = await post([{ taskType: 'upscale', taskUUID, inputImage: dataUri(png) }]);
  assert.equal(missing.status, 400);
  const m = (await json(missing)).errors[0];
  assert.equal(m.code, 'missingParameter');
  assert.equal(m.parameter, 'model');
  assert.equal(m.taskType, 'upscale');
  assert.equal(m.taskUUID, taskUUID);

  const fourX = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: dataUri(png),
        model: 'runware:500@1',
        upscaleFactor: 4,
      },
    ]),
  );
  assert.equal(fourX.errors[0].code, 'unsupportedUpscaleFactor');
  assert.equal(fourX.errors[0].parameter, 'upscaleFactor');

  const three = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: dataUri(png),
        model: 'runware:503@1',
        upscaleFactor: 3,
      },
    ]),
  );
  assert.equal(three.errors[0].parameter, 'upscaleFactor');

  const badType = await json(
    await post([
      {
        taskType: 'upscale',
        taskUUID: randomUUID(),
        inputImage: dataUri(png),
        model: 'runware:503@1',
        outputType: 'file',
      },
    ]),
  );
  assert.equal(badType.errors[0].parameter, 'outputType');

  const badUuid = await json(
    await post([
      { taskType: 'upscale', taskUUID: 'not-a-uuid', inputImage: dataUri(png), model: 'runware:503@1' },
    ]),
  );
  assert.equal(badUuid.errors[0].parameter, 'taskUUID');

  const unknownImage = await json(
    await post([
      { taskType: 'upscale', taskUUID: randomUUID(), inputImage: randomUUID(), model: 'runware:503@1' },
    ]),
  );
  assert.equal(unknownImage.errors[0].code, 'invalidInputImage');
  assert.equal(unknownImage.errors[0].parameter, undefined);

  const notImage = await json(
    await post([
      { taskType: 'upscale', taskUUID: randomUUID(), inputImage: 'hello', model: 'runware:503@1' },
    ]),
  );
  assert.equal(notImage.errors[0].parameter, 'inputImage');

  const model = await json(
    await post([
      { taskType: 'upscale', taskUUID: randomUUID(), inputImage: dataUri(png), model: 'runware:999@1' },
    ]),
  );
  assert.equal(model.errors[0].code, 'invalidModel');

  const poor = await post(
    [{ taskType: 'upscale', taskUUID: randomUUID(), inputImage: dataUri(png), model: 'runware:503@1' }],
    'rw_poor',
  );
  assert.equal(poor.status, 402);
  assert.equal((await json(poor)).errors[0].code, 'insufficientCredits');

  const nothing = await post([{ taskType: 'getResponse', taskUUID: randomUUID() }]);
  assert.equal(nothing.status, 404);
  assert.equal((await json(nothing)).errors[0].code, 'taskNotFound');

  const unknownTask = await json(await post([{ taskType: 'imageInference', taskUUID: randomUUID() }]));
  assert.equal(unknownTask.errors[0].code, 'invalidTaskType');

  const empty = await post([]);
  assert.equal(empty.status, 400);
  assert.equal((await json(empty)).errors[0].code, 'invalidTaskArray');
});
