/**
 * `pixelift keys` in scale-out: the built CLI manages the keys in PostgreSQL (not a local SQLite
 * file), so an API node started on the same database accepts them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../../helpers/cli-process.js';
import { tempDir } from '../../helpers/models.js';
import { scaleOutEnv, startTestService } from '../../helpers/service.js';

const run = promisify(execFile);

test('pixelift keys creates, credits and revokes keys in PostgreSQL, and an API node on the same database honours them', async (t) => {
  const env = {
    ...(await scaleOutEnv()),
    PIXELIFT_DATA_DIR: tempDir('pixelift-keys-'),
    PIXELIFT_LOG_LEVEL: 'silent',
  };
  const cli = async (...args: string[]) =>
    (await run(process.execPath, [CLI, 'keys', ...args], { env: { PATH: process.env.PATH, ...env } })).stdout;

  const created = JSON.parse(await cli('create', '--name', 'studio', '--credits', '5', '--json'));
  const other = JSON.parse(await cli('create', '--name', 'other', '--json'));
  assert.match(created.secret, /\S{20,}/);
  assert.equal(created.credits, 5);
  const listed = JSON.parse(await cli('list', '--json'));
  assert.deepEqual(
    listed.map((k: { id: string; name: string }) => [k.id, k.name]),
    [
      [created.id, 'studio'],
      [other.id, 'other'],
    ],
  );

  const svc = await startTestService(env, 'scale-out');
  t.after(() => svc.close(0));
  const models = (key: string) => svc.call('/v1/models', { headers: { authorization: `Bearer ${key}` } });
  assert.equal((await models(created.secret)).status, 200);
  assert.equal((await models('not-a-key')).status, 401);

  await cli('credit', created.id, '2.5');
  const after = JSON.parse(await cli('list', '--json'));
  assert.equal(after.find((k: { id: string }) => k.id === created.id).credits, 7.5);

  await cli('revoke', created.id);
  assert.equal((await models(created.secret)).status, 401, 'revoked in the shared store');
  assert.equal((await models(other.secret)).status, 200);
});
