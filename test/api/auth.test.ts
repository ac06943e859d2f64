/**
 * Open mode is decided by the bind address as well as the keys: a server bound beyond loopback
 * whose last key is revoked must refuse every request, not fall open (DESIGN §5).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { authenticate } from '../../src/api/auth.js';
import { isPixeliftError } from '../../src/errors.js';
import { openSqliteStores } from '../../src/jobs/sqlite/index.js';
import { tempDir } from '../helpers/models.js';

const request = (headers: Record<string, string> = {}) => ({ headers }) as unknown as FastifyRequest;

test('with no live key: open on loopback, refused elsewhere; with keys: the key decides', async (t) => {
  const stores = openSqliteStores(path.join(tempDir('pixelift-auth-'), 'db.sqlite'));
  t.after(() => stores.close());

  assert.deepEqual(await authenticate(request(), stores.keys, true), { keyId: null, admin: true });
  await assert.rejects(authenticate(request(), stores.keys, false), (e) =>
    isPixeliftError(e, 'unauthorized'),
  );

  const { key, secret } = await stores.keys.create({ name: 'only', credits: null });
  const bearer = request({ authorization: `Bearer ${secret}` });
  assert.deepEqual(await authenticate(bearer, stores.keys, true), { keyId: key.id, admin: false });
  assert.deepEqual(await authenticate(bearer, stores.keys, false), { keyId: key.id, admin: false });
  await assert.rejects(authenticate(request(), stores.keys, true), (e) => isPixeliftError(e, 'unauthorized'));

  // The last key revoked: a loopback server reopens; one bound beyond loopback stays shut.
  await stores.keys.revoke(key.id);
  assert.deepEqual(await authenticate(bearer, stores.keys, true), { keyId: null, admin: true });
  await assert.rejects(authenticate(bearer, stores.keys, false), (e) => isPixeliftError(e, 'unauthorized'));
});
