/** `pixelift faces` and `pixelift upscale --faces` as a user runs them (the built CLI). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { installFaceModel, negativeRestorer } from '../helpers/face-fixtures.js';
import { tempDir } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const run = promisify(execFile);
const CLI = repoPath('dist/src/cli/index.js');
const ASTRONAUT = repoPath('test/fixtures/faces/astronaut-256.png');

async function pixelift(args: string[], dataDir: string, env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        PIXELIFT_DATA_DIR: dataDir,
        PIXELIFT_DEVICE: 'cpu',
        PIXELIFT_LOG_LEVEL: 'warn',
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('pixelift faces prints the astronaut’s face; --json gives box, score and 5 landmarks; a missing file fails with its code', async () => {
  const data = tempDir();
  const text = await pixelift(['faces', ASTRONAUT], data);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /astronaut-256\.png: 1 face \(256x256\)/);
  assert.match(text.stdout, /1\. box 81\.2,37\.5 57\.7x54\.9 {2}score 0\.959/);

  const json = await pixelift(['faces', '--json', ASTRONAUT, path.join(data, 'missing.png')], data);
  assert.equal(json.code, 1);
  const [found, missing] = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(found.faces.length, 1);
  assert.equal(found.faces[0].landmarks.length, 5);
  assert.ok(Math.abs(found.faces[0].landmarks[2][0] - 111.2) < 1, 'nose x');
  assert.equal(missing.error.code, 'image_unreadable');
});

test('pixelift upscale --faces restores with PIXELIFT_FACE_MODEL and reports the faces in --json', async () => {
  const data = tempDir();
  installFaceModel(path.join(data, 'models'), 'negative-face', negativeRestorer());
  const out = path.join(data, 'out');
  const r = await pixelift(
    [
      'upscale',
      ASTRONAUT,
      '-m',
      'lanczos3',
      '-s',
      '2',
      '--faces',
      '--face-strength',
      '0.5',
      '-o',
      out,
      '--json',
    ],
    data,
    { PIXELIFT_FACE_MODEL: 'negative-face' },
  );
  assert.equal(r.code, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim());
  assert.equal(line.status, 'ok');
  assert.equal(line.faces.length, 1);
  assert.deepEqual(line.warnings, []);
  assert.ok(fs.existsSync(line.written));
});
