/**
 * `pixelift models add/remove` as a user runs them (the built CLI): a PyTorch file is copied,
 * recognised, converted and verified, listed, used by `upscale`, and removed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { tempDir } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';
import { fixturePath } from '../helpers/pytorch-fixtures.js';

const run = promisify(execFile);
const CLI = repoPath('dist/src/cli/index.js');

async function pixelift(args: string[], dataDir: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, PIXELIFT_DATA_DIR: dataDir, PIXELIFT_DEVICE: 'cpu', PIXELIFT_LOG_LEVEL: 'warn' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('pixelift models add converts and verifies a .pth, lists it, upscales with it, and models remove deletes it', async () => {
  const data = tempDir();
  const src = path.join(data, 'Downloads', '4x_MyCompact.pth');
  fs.mkdirSync(path.dirname(src), { recursive: true });
  fs.copyFileSync(fixturePath('srvgg-prelu-x4.legacy.pth'), src);

  const added = await pixelift(['models', 'add', src], data);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added 4x_mycompact: SRVGGNetCompact/);
  assert.match(added.stdout, /scale\s+4x/);
  assert.match(added.stdout, /parameters\s+4,920/);
  assert.ok(fs.existsSync(path.join(data, 'models', '4x_mycompact.pth')));
  assert.ok(fs.existsSync(src), 'the original is copied, not moved');

  const again = await pixelift(['models', 'add', src], data);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[invalid_argument\].*already taken/);

  const list = await pixelift(['models', '--json'], data);
  const entry = JSON.parse(list.stdout).models.find((m: { id: string }) => m.id === '4x_mycompact');
  assert.equal(entry.architecture.id, 'srvgg');
  assert.equal(entry.format, 'pytorch');
  assert.deepEqual(entry.scales, [4]);

  const img = path.join(data, 'in.png');
  await sharp({ create: { width: 12, height: 10, channels: 3, background: { r: 200, g: 100, b: 50 } } })
    .png()
    .toFile(img);
  const out = path.join(data, 'out.png');
  const up = await pixelift(['upscale', img, '-o', out, '-m', '4x_mycompact'], data);
  assert.equal(up.code, 0, up.stderr);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height], [48, 40]);

  const removed = await pixelift(['models', 'remove', '4x_mycompact'], data);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(fs.existsSync(path.join(data, 'models', '4x_mycompact.pth')), false);
  const gone = await pixelift(['upscale', img, '-o', out, '-m', '4x_mycompact'], data);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr + gone.stdout, /model_not_found|Unknown model/);
});

test('pixelift models add refuses an unsafe pickle and leaves nothing in the models directory', async () => {
  const data = tempDir();
  const r = await pixelift(['models', 'add', fixturePath('evil-os-system.pth'), '--id', 'evil'], data);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[model_unsafe\].*posix\.system/);
  assert.deepEqual(
    fs.existsSync(path.join(data, 'models')) ? fs.readdirSync(path.join(data, 'models')) : [],
    [],
  );
});
