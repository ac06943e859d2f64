/**
 * The int8 variant in the conversion cache (made from the fp32 file, keyed by the quantizer
 * version and the fp32 file's hash, checked against its own golden output, tampering detected)
 * and the precision a request runs in. The quantizer is replaceable (src/models/quantize.ts):
 * quality is held to a loose PSNR floor and `auto` is read from INT8_AUTO, not assumed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { upscaleImage } from '../../src/engine/pipeline.js';
import { isPixeliftError } from '../../src/errors.js';
import { BUILTIN_MODELS } from '../../src/models/catalog.js';
import { goldenInput } from '../../src/models/golden.js';
import { decodeModel } from '../../src/models/onnx/qdq.js';
import { autoPrecision, hasInt8, runPrecision } from '../../src/models/precision.js';
import { INT8_AUTO, QUANTIZER_VERSION } from '../../src/models/quantize.js';
import { recordingLogger, testStore } from '../helpers/models.js';
import { testPng } from '../helpers/service.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('int8 is quantized once from the fp32 file into the cache, keyed by quantizer and fp32 hash, then served from it', async () => {
  const store = testStore();
  const int8 = await store.prepare('realesrgan-x4fast', 4, 'int8');
  const fp32 = await store.prepare('realesrgan-x4fast', 4, 'fp32');
  assert.equal(int8.precision, 'int8');
  assert.equal(int8.converted, true);
  const base = int8.onnxPath.replace(/\.onnx$/, '');
  assert.match(path.basename(base), /^realesrgan-x4fast-x4-[0-9a-f]{16}\.int8$/);
  for (const ext of ['.onnx', '.json', '.golden.f32']) assert.ok(fs.existsSync(base + ext), ext);
  const manifest = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  assert.equal(manifest.precision, 'int8');
  assert.equal(manifest.quantizer, QUANTIZER_VERSION);
  assert.equal(manifest.fp32Sha256, sha256(fs.readFileSync(fp32.onnxPath)));
  assert.equal(manifest.onnxSha256, sha256(fs.readFileSync(int8.onnxPath)));
  assert.notEqual(int8.onnxPath, fp32.onnxPath);
  assert.notDeepEqual(fs.readFileSync(int8.onnxPath), fs.readFileSync(fp32.onnxPath));

  const again = testStore({ modelCacheDir: path.dirname(int8.onnxPath) });
  const second = await again.prepare('realesrgan-x4fast', 4, 'int8');
  assert.equal(second.converted, false);
  assert.equal(second.onnxPath, int8.onnxPath);
  await Promise.all([store.close(), again.close()]);
});

test('a cached int8 file whose bytes changed, or whose golden output no longer matches, is not trusted and is made again', async () => {
  const store = testStore();
  const first = await store.prepare('realesrgan-x4fast', 4, 'int8');
  const original = fs.readFileSync(first.onnxPath);
  const bytes = Buffer.from(original);
  const at = bytes.length - 100;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
  fs.writeFileSync(first.onnxPath, bytes);
  const log = recordingLogger();
  const again = testStore({ modelCacheDir: path.dirname(first.onnxPath), log });
  const second = await again.prepare('realesrgan-x4fast', 4, 'int8');
  assert.equal(second.converted, true);
  assert.ok(
    log.warnings.some((w) => /not trusted: file bytes changed/.test(w)),
    log.warnings.join('; '),
  );
  // Deterministic: made again, it is the same file as before the tampering.
  assert.deepEqual(fs.readFileSync(second.onnxPath), original);

  const goldenFile = first.onnxPath.replace(/\.onnx$/, '.golden.f32');
  const golden = new Float32Array(fs.readFileSync(goldenFile).buffer.slice(0));
  golden[7] = golden[7]! + 0.05;
  fs.writeFileSync(goldenFile, Buffer.from(golden.buffer));
  const log2 = recordingLogger();
  const third = testStore({ modelCacheDir: path.dirname(first.onnxPath), log: log2 });
  assert.equal((await third.prepare('realesrgan-x4fast', 4, 'int8')).converted, true);
  assert.ok(
    log2.warnings.some((w) => /golden output differs by 0\.0[45]/.test(w)),
    log2.warnings.join('; '),
  );
  await Promise.all([store.close(), again.close(), third.close()]);
});

test('an int8 file is made for the weight bits of the CPU it runs on: a store on a CPU of the other kind makes its own', async () => {
  const avx2 = testStore({ int8WeightBits: 7 });
  const seven = await avx2.prepare('realesrgan-x4fast', 4, 'int8');
  const dir = path.dirname(seven.onnxPath);
  const vnni = testStore({ modelCacheDir: dir, int8WeightBits: 8 });
  const eight = await vnni.prepare('realesrgan-x4fast', 4, 'int8');
  assert.equal(eight.converted, true, 'the 7-bit file is not used where weights get 8 bits');
  assert.notEqual(eight.onnxPath, seven.onnxPath);
  const manifest = (p: string) => JSON.parse(fs.readFileSync(p.replace(/\.onnx$/, '.json'), 'utf8'));
  assert.equal(manifest(seven.onnxPath).weightBits, 7);
  assert.equal(manifest(eight.onnxPath).weightBits, 8);
  // The bits are in the weights: ±63 at 7 bits, up to ±127 at 8.
  const largestWeight = (p: string) => {
    let top = 0;
    for (const t of decodeModel(fs.readFileSync(p)).graph?.initializer ?? []) {
      if (t.dataType !== 3 || !t.rawData) continue;
      for (const v of new Int8Array(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength))
        top = Math.max(top, Math.abs(v));
    }
    return top;
  };
  assert.equal(largestWeight(seven.onnxPath), 63);
  assert.equal(largestWeight(eight.onnxPath), 127);
  const again = testStore({ modelCacheDir: dir, int8WeightBits: 7 });
  const reused = await again.prepare('realesrgan-x4fast', 4, 'int8');
  assert.equal(reused.converted, false, 'each kind finds its own file again');
  assert.equal(reused.onnxPath, seven.onnxPath);
  await Promise.all([avx2.close(), vnni.close(), again.close()]);
});

test('the int8 network gives nearly the fp32 output (PSNR over 25 dB on the golden patch), but not the same', async () => {
  const store = testStore();
  const tile = { data: goldenInput(32), width: 32, height: 32 };
  const a = (await (await store.open('realesrgan-x4fast', 4, 'int8')).run(tile)).data;
  const b = (await (await store.open('realesrgan-x4fast', 4, 'fp32')).run(tile)).data;
  assert.equal(a.length, b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  assert.ok(se > 0, 'int8 ran a different network');
  const db = 10 * Math.log10(1 / (se / a.length));
  assert.ok(db > 25, `${db.toFixed(1)} dB`);
  await store.close();
});

test('auto runs int8 exactly for the built-ins in INT8_AUTO, fp32 for the rest and for user models', () => {
  for (const m of BUILTIN_MODELS) {
    const want = INT8_AUTO.has(m.id) && hasInt8(m) ? 'int8' : 'fp32';
    assert.equal(runPrecision(m, 'auto'), want, m.id);
    assert.equal(autoPrecision({ ...m, origin: 'user' }), 'fp32', `${m.id} as a user model`);
  }
  const network = BUILTIN_MODELS.find((m) => m.id === 'realesrgan-x4fast')!;
  assert.equal(
    runPrecision({ ...network, origin: 'user' }, 'int8'),
    'int8',
    'explicit int8 works for user models',
  );
  assert.equal(runPrecision(network, 'fp32'), 'fp32');
  assert.equal(runPrecision(network, undefined, 'int8'), 'int8', 'a default of int8 applies to networks');
  // Per native scale: only the scales measured to meet the bar.
  for (const [id, scales] of INT8_AUTO) {
    const m = BUILTIN_MODELS.find((b) => b.id === id)!;
    for (const s of m.scales)
      assert.equal(autoPrecision(m, INT8_AUTO, s), scales.includes(s) ? 'int8' : 'fp32', `${id} ×${s}`);
  }
  const at2 = new Map([['realesrgan-x4fast', [2]]]);
  assert.equal(autoPrecision(network, at2, 4), 'fp32', 'a scale not listed runs fp32');
  assert.equal(autoPrecision(network, at2, 2), 'int8');
});

test('EXPECTED FAILURE - int8 of a classical resampler is precision_unsupported (a default of int8 falls back to fp32); an unknown precision is invalid_argument', () => {
  const lanczos = BUILTIN_MODELS.find((m) => m.id === 'lanczos3')!;
  assert.equal(hasInt8(lanczos), false);
  assert.throws(
    () => runPrecision(lanczos, 'int8'),
    (err) => isPixeliftError(err, 'precision_unsupported') && /lanczos3/.test(err.message),
  );
  assert.equal(runPrecision(lanczos, undefined, 'int8'), 'fp32');
  assert.equal(runPrecision(lanczos, 'auto'), 'fp32');
  assert.throws(
    // biome-ignore lint/suspicious/noExplicitAny: a JavaScript caller's bad value
    () => runPrecision(lanczos, 'fp16' as any),
    (err) => isPixeliftError(err, 'invalid_argument') && err.details.param === 'precision',
  );
});

test('the pipeline runs and reports the precision asked for, including under exact tiling', async () => {
  const store = testStore();
  const png = await testPng(24, 16);
  const int8 = await upscaleImage(store, png, { model: 'realesrgan-x4fast', precision: 'int8' });
  assert.equal(int8.info.precision, 'int8');
  const exact = await upscaleImage(store, png, {
    model: 'realesrgan-x4fast',
    precision: 'int8',
    tiling: 'exact',
  });
  assert.equal(exact.info.precision, 'int8');
  // Segment-wise (or, for a graph that cannot be cut, whole-network) tiling of the int8 network.
  const [x, w] = await Promise.all([exact.data, int8.data].map((d) => sharp(d).raw().toBuffer()));
  let se = 0;
  for (let i = 0; i < x!.length; i++) se += (x![i]! - w![i]!) ** 2;
  assert.ok(
    se / x!.length < 1,
    `exact tiling of the int8 network matches its whole run (MSE ${se / x!.length})`,
  );
  const plain = await upscaleImage(store, png, { model: 'realesrgan-x4fast' });
  assert.equal(plain.info.precision, 'fp32', 'upscaleImage defaults to fp32');
  assert.notDeepEqual(plain.data, int8.data);
  const byDefault = await upscaleImage(store, png, { model: 'realesrgan-x4fast', defaultPrecision: 'int8' });
  assert.equal(byDefault.info.precision, 'int8');
  const classical = await upscaleImage(store, png, { model: 'bicubic', defaultPrecision: 'int8' });
  assert.equal(classical.info.precision, 'fp32');
  await assert.rejects(upscaleImage(store, png, { model: 'bicubic', precision: 'int8' }), (err) =>
    isPixeliftError(err, 'precision_unsupported'),
  );
  await store.close();
});

const int8Files = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('.int8.'));

test('auto with no int8 file runs fp32 at once, quantizes once in the background, and later requests run int8', async () => {
  const log = recordingLogger();
  const store = testStore({
    log,
    quantizeInBackground: true,
    int8Auto: new Map([['realesrgan-x4fast', [4]]]),
  });
  const png = await testPng(24, 16);
  const auto = { model: 'realesrgan-x4fast', precision: 'auto' } as const;
  // Two requests at once: neither waits for a quantization, and only one is started.
  const first = await Promise.all([upscaleImage(store, png, auto), upscaleImage(store, png, auto)]);
  for (const r of first) {
    assert.equal(r.info.precision, 'fp32');
    assert.ok(!r.info.warnings.some((w) => /int8/.test(w)), r.info.warnings.join('; '));
  }
  assert.equal(
    log.infos.filter((m) => m === 'int8 not prepared: quantizing it in the background').length,
    1,
    log.infos.join('; '),
  );
  const fp32 = await upscaleImage(store, png, { model: 'realesrgan-x4fast', precision: 'fp32' });
  assert.deepEqual(first[0]!.data, fp32.data, 'the first requests ran the fp32 network');
  // Resolves when the background quantization ends (undefined if it already has).
  await store.backgroundInt8('realesrgan-x4fast', 4);
  const cacheDir = path.join(store.dir, 'cache');
  // One set in the cache (graph, golden output, manifest), and the lock file gone.
  assert.deepEqual(
    int8Files(cacheDir)
      .map((f) => f.replace(/^.*\.int8\./, ''))
      .sort(),
    ['golden.f32', 'json', 'onnx'],
  );
  assert.equal(log.infos.filter((m) => m === 'quantizing model to int8').length, 1, log.infos.join('; '));

  const later = await upscaleImage(store, png, auto);
  assert.equal(later.info.precision, 'int8');
  assert.ok(!later.info.warnings.some((w) => /fp32/.test(w)), later.info.warnings.join('; '));
  const int8 = await upscaleImage(store, png, { model: 'realesrgan-x4fast', precision: 'int8' });
  assert.deepEqual(later.data, int8.data, 'auto ran the int8 network');
  assert.notDeepEqual(later.data, fp32.data);
  await store.close();
});

test('auto with no int8 file in a store that does not quantize in the background (the CLI) runs fp32 and says how to prepare it', async () => {
  const store = testStore({ int8Auto: new Map([['realesrgan-x4fast', [4]]]) });
  const r = await upscaleImage(store, await testPng(24, 16), {
    model: 'realesrgan-x4fast',
    precision: 'auto',
  });
  assert.equal(r.info.precision, 'fp32');
  assert.ok(
    r.info.warnings.some((w) => /pixelift models prepare realesrgan-x4fast/.test(w)),
    r.info.warnings.join('; '),
  );
  assert.equal(store.backgroundInt8('realesrgan-x4fast', 4), undefined);
  assert.deepEqual(int8Files(path.join(store.dir, 'cache')), []);
  await store.close();
});

test('an explicit int8 with no int8 file quantizes before running, once for requests that wait together, and says so', async () => {
  const log = recordingLogger();
  const store = testStore({ log });
  const png = await testPng(24, 16);
  const notices: string[][] = [[], []];
  const runs = await Promise.all(
    notices.map((seen) =>
      upscaleImage(
        store,
        png,
        { model: 'realesrgan-x4fast', precision: 'int8' },
        { onNotice: (n) => seen.push(n) },
      ),
    ),
  );
  assert.equal(log.infos.filter((m) => m === 'quantizing model to int8').length, 1, log.infos.join('; '));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.info.precision, 'int8');
    assert.equal(notices[i]!.length, 1, `request ${i} heard once that it waits for a quantization`);
    assert.match(notices[i]![0]!, /Quantizing realesrgan-x4fast ×4 to int8 before this request runs/);
    assert.ok(
      r.info.warnings.some((w) => /was quantized to int8 for this request/.test(w)),
      r.info.warnings.join('; '),
    );
  }
  const seen: string[] = [];
  const cached = await upscaleImage(
    store,
    png,
    { model: 'realesrgan-x4fast', precision: 'int8' },
    { onNotice: (n) => seen.push(n) },
  );
  assert.deepEqual(seen, [], 'a prepared int8 file is used without a word');
  assert.ok(!cached.info.warnings.some((w) => /quantized/.test(w)));
  await store.close();
});

test('auto at a native scale INT8_AUTO does not list runs fp32 and starts no quantization', async () => {
  const store = testStore({ quantizeInBackground: true, int8Auto: new Map([['realesrgan-x4fast', [2]]]) });
  const r = await upscaleImage(store, await testPng(24, 16), {
    model: 'realesrgan-x4fast',
    precision: 'auto',
  });
  assert.equal(r.info.precision, 'fp32');
  assert.ok(!r.info.warnings.some((w) => /int8/.test(w)), r.info.warnings.join('; '));
  assert.equal(store.backgroundInt8('realesrgan-x4fast', 4), undefined);
  assert.deepEqual(int8Files(path.join(store.dir, 'cache')), []);
  await store.close();
});
