/**
 * `--precision` on the built CLI as a user runs it: int8 runs the quantized network and says
 * so, PIXELIFT_PRECISION is the default, a classical model refuses int8 with its code, and
 * `pixelift models` / `models prepare` show and make the int8 versions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { BUILTIN_MODELS } from '../../src/models/catalog.js';
import { autoPrecision } from '../../src/models/precision.js';
import { tempDir } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const run = promisify(execFile);
const CLI = repoPath('dist/src/cli/index.js');
const PHOTO = repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png');

async function pixelift(
  args: string[],
  dataDir: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, PIXELIFT_DATA_DIR: dataDir, PIXELIFT_DEVICE: 'cpu', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('pixelift upscale --precision int8 runs the quantized network, reports it, and stays close to fp32', async () => {
  const data = tempDir();
  const input = path.join(data, 'in.png');
  await sharp(PHOTO).resize(24, 16).png().toFile(input);
  const outputs: Record<string, Buffer> = {};
  for (const precision of ['int8', 'fp32']) {
    const out = path.join(data, `${precision}.png`);
    const res = await pixelift(
      ['upscale', input, '-o', out, '-m', 'realesrgan-x4fast', '--precision', precision, '--json'],
      data,
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).precision, precision);
    outputs[precision] = await sharp(out).removeAlpha().raw().toBuffer();
  }
  const [a, b] = [outputs.int8!, outputs.fp32!];
  assert.notDeepEqual(a, b);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  const db = 10 * Math.log10((255 * 255) / (se / a.length));
  assert.ok(db > 25, `int8 vs fp32: ${db.toFixed(1)} dB`);

  // No flag: PIXELIFT_PRECISION decides; the human line names the precision too.
  const env = await pixelift(
    ['upscale', input, '-o', path.join(data, 'env.png'), '-m', 'realesrgan-x4fast'],
    data,
    { PIXELIFT_PRECISION: 'int8' },
  );
  assert.equal(env.code, 0, env.stderr);
  assert.match(env.stderr, /with realesrgan-x4fast \(int8\) in/);
});

test('EXPECTED FAILURE - --precision int8 on a classical model is precision_unsupported; an unknown precision is refused by the parser', async () => {
  const data = tempDir();
  const res = await pixelift(
    ['upscale', PHOTO, '-o', path.join(data, 'x.png'), '-m', 'lanczos3', '--precision', 'int8'],
    data,
  );
  assert.equal(res.code, 1);
  assert.match(res.stderr, /\[precision_unsupported\] Model "lanczos3" cannot run in int8/);
  const bad = await pixelift(['upscale', PHOTO, '--precision', 'fp16'], data);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /fp16.*Allowed choices are fp32, int8, auto/s);
});

test('pixelift models shows which models have int8 and which auto runs in int8; models prepare makes and then reuses the int8 file', async () => {
  const data = tempDir();
  const json = JSON.parse((await pixelift(['models', '--json'], data)).stdout);
  for (const m of json.models) {
    const entry = BUILTIN_MODELS.find((b) => b.id === m.id)!;
    assert.deepEqual(m.precision, { int8: m.kind !== 'classical', auto: autoPrecision(entry) }, m.id);
  }
  const table = (await pixelift(['models'], data)).stdout;
  assert.match(table, /lanczos3\s.*\s-\s+/);
  const x4fast = autoPrecision(BUILTIN_MODELS.find((b) => b.id === 'realesrgan-x4fast')!);
  assert.match(table, new RegExp(`realesrgan-x4fast\\s.*\\s${x4fast === 'int8' ? 'auto' : 'yes'}\\s+`));

  const first = await pixelift(['models', 'prepare', 'realesrgan-x4fast', '--precision', 'int8'], data);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /realesrgan-x4fast x4: converted and verified/);
  assert.match(first.stdout, /realesrgan-x4fast x4 int8: quantized and verified/);
  const again = await pixelift(['models', 'prepare', 'realesrgan-x4fast', '--precision', 'int8'], data);
  assert.match(again.stdout, /realesrgan-x4fast x4 int8: cached, verified/);
  const fp32 = await pixelift(['models', 'prepare', 'realesrgan-x4fast', '--precision', 'fp32'], data);
  assert.doesNotMatch(fp32.stdout, /int8/);
});
