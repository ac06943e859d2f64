/**
 * What the PyTorch readers refuse, and that refusing has no side effect: pickles that would run
 * code, a pickled whole model, state dicts no architecture knows, damaged and oversize files.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { zipSync } from 'fflate';
import { isPixeliftError } from '../../../src/errors.js';
import { importPytorch, readStateDict } from '../../../src/models/pytorch/import.js';
import { tempDir } from '../../helpers/models.js';
import { fixturePath } from '../../helpers/pytorch-fixtures.js';

/** What every malicious fixture's payload would create (see make_fixtures.py). */
const PWNED_MARKER = '/tmp/pixelift-pickle-pwned-marker';

const MALICIOUS = [
  { file: 'evil-os-system.pth', global: 'posix.system', format: 'zip checkpoint, beside real weights' },
  // Protocol-2 pickles name Python 3's builtins module by its Python 2 name.
  { file: 'evil-builtins-eval.pth', global: '__builtin__.eval', format: 'zip checkpoint' },
  { file: 'evil-posix-system.legacy.pth', global: 'posix.system', format: 'legacy checkpoint' },
];

for (const m of MALICIOUS) {
  test(`refuses ${m.file} (${m.format}) as model_unsafe naming ${m.global}, and runs nothing`, () => {
    fs.rmSync(PWNED_MARKER, { force: true });
    assert.throws(
      () => importPytorch(fixturePath(m.file)),
      (err) => isPixeliftError(err, 'model_unsafe') && err.details.global === m.global && err.status === 422,
    );
    assert.equal(fs.existsSync(PWNED_MARKER), false, 'the payload must not have run');
  });
}

test('refuses a pickled whole model object (torch.save(model)), naming its class', () => {
  assert.throws(
    () => importPytorch(fixturePath('whole-model-object.pth')),
    (err) => isPixeliftError(err, 'model_unsafe') && err.details.global === '__main__.SRVGGNetCompact',
  );
});

test('an unrecognised state dict is model_arch_unknown (422) with its first keys in details', () => {
  assert.throws(
    () => importPytorch(fixturePath('unknown-arch.safetensors')),
    (err) =>
      isPixeliftError(err, 'model_arch_unknown') &&
      err.status === 422 &&
      JSON.stringify(err.details.firstKeys) ===
        JSON.stringify(['encoder.layer0.weight', 'decoder.head.bias']),
  );
});

for (const file of [
  'esrgan-basicsr-x4.pth',
  'esrgan-basicsr-x4.legacy.pth',
  'esrgan-basicsr-x4.safetensors',
]) {
  test(`a truncated ${path.extname(file)} (${file.includes('legacy') ? 'legacy' : 'current'}) is model_unreadable`, () => {
    const bytes = fs.readFileSync(fixturePath(file));
    for (const keep of [0.3, 0.9]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * keep));
      assert.throws(
        () => readStateDict(cut, file),
        (err) => isPixeliftError(err, 'model_unreadable'),
        `kept ${keep * 100}%`,
      );
    }
  });
}

test('a zip bomb (a deflated entry claiming 64 MB in a 64 kB file) is refused before it is inflated', () => {
  const bomb = zipSync({ 'archive/data.pkl': new Uint8Array(64 * 1024 * 1024) }, { level: 9 });
  assert.ok(bomb.length < 200_000, `the bomb is ${bomb.length} bytes`);
  assert.throws(
    () => readStateDict(bomb, 'bomb.pth'),
    (err) => isPixeliftError(err, 'model_unreadable') && /expands to more than/.test(err.message),
  );
});

test('safetensors: integer buffers are read as float32 like the checkpoint reader does, an unknown float type is model_unreadable', () => {
  const file = (header: Record<string, unknown>, data: Uint8Array) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  };
  const w = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  const counter = new Uint8Array(new BigInt64Array([7n]).buffer);
  const ok = file(
    {
      'bn.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [8, 16] },
    },
    new Uint8Array([...w, ...counter]),
  );
  const { sd } = readStateDict(ok, 'bn.safetensors');
  assert.deepEqual([...sd.keys()], ['bn.weight', 'bn.num_batches_tracked']);
  assert.deepEqual([...sd.get('bn.weight')!.data], [1.5, -2]);
  assert.deepEqual([...sd.get('bn.num_batches_tracked')!.data], [7]);
  const fp8 = file({ x: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
  assert.throws(
    () => readStateDict(fp8, 'fp8.safetensors'),
    (err) => isPixeliftError(err, 'model_unreadable') && /F8_E4M3/.test(err.message),
  );
});

test('a file that is no model format at all is model_unreadable', () => {
  assert.throws(
    () => readStateDict(new TextEncoder().encode('<html>not found</html>'), 'x.pth'),
    (err) => isPixeliftError(err, 'model_unreadable'),
  );
});

test('a file over the size limit is refused as model_too_large before it is read', () => {
  const dir = tempDir();
  const file = path.join(dir, 'big.pth');
  fs.copyFileSync(fixturePath('srvgg-prelu-x4.pth'), file);
  const size = fs.statSync(file).size;
  assert.throws(
    () => importPytorch(file, { maxBytes: size - 1 }),
    (err) => isPixeliftError(err, 'model_too_large') && err.status === 413 && err.details.bytes === size,
  );
  assert.equal(importPytorch(file, { maxBytes: size }).detection.arch, 'srvgg');
});

test("DataParallel's module. prefix is stripped", () => {
  const { sd } = readStateDict(fs.readFileSync(fixturePath('esrgan-basicsr-x4-fp16-module.pth')), 'm.pth');
  assert.ok(sd.has('conv_first.weight'));
  assert.ok(![...sd.keys()].some((k) => k.startsWith('module.')));
});
