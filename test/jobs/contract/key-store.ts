import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { isPixeliftError } from '../../../src/errors.js';
import { makeJob, rejection } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

export function keyStoreContract(backend: StoreBackend): void {
  test('a created key returns its secret once; only the hash is stored and the id derives from it', async () => {
    const s = await backend.fresh();
    const { key, secret } = await s.keys.create({ name: 'ci', credits: 12.5 });
    assert.match(secret, /^pk_[A-Za-z0-9_-]{43}$/, '32 random bytes in base64url');
    const hash = createHash('sha256').update(secret).digest('hex');
    assert.equal(key.id, `key_${hash.slice(0, 16)}`);
    assert.deepEqual([key.name, key.credits, key.origin, key.revokedAt], ['ci', 12.5, 'store', null]);
    const stored = await s.apiKeyRows();
    assert.doesNotMatch(JSON.stringify(stored), new RegExp(secret.slice(3)), 'the secret is not stored');
    assert.deepEqual(await s.keys.authenticate(secret), key);
  });

  test('a key is an admin only when created as one; authenticate and list say which', async () => {
    const s = await backend.fresh();
    const plain = await s.keys.create({ name: 'app', credits: null });
    const admin = await s.keys.create({ name: 'ops', credits: null, admin: true });
    assert.equal(plain.key.admin, false);
    assert.equal(admin.key.admin, true);
    assert.equal((await s.keys.authenticate(plain.secret))?.admin, false);
    assert.equal((await s.keys.authenticate(admin.secret))?.admin, true);
    assert.deepEqual(
      (await s.keys.list()).map((k) => [k.name, k.admin]),
      [
        ['app', false],
        ['ops', true],
      ],
    );
    await s.keys.syncConfigKeys([{ secret: 'pk_config', credits: null }]);
    assert.equal(
      (await s.keys.authenticate('pk_config'))?.admin,
      false,
      'configuration keys are never admins',
    );
  });

  test('authenticate refuses an unknown secret and a revoked key', async () => {
    const s = await backend.fresh();
    const { key, secret } = await s.keys.create({ name: 'a', credits: null });
    assert.equal(await s.keys.authenticate(`${secret}x`), undefined);
    const revoked = await s.keys.revoke(key.id);
    assert.ok(revoked?.revokedAt);
    assert.equal(await s.keys.authenticate(secret), undefined);
    assert.equal(
      (await s.keys.revoke(key.id))?.revokedAt,
      revoked?.revokedAt,
      'revoking twice keeps the first time',
    );
    assert.equal(await s.keys.count(), 0);
  });

  test('config keys keep their id and running balance across restarts; removed ones are revoked', async () => {
    const s = await backend.fresh();
    await s.keys.syncConfigKeys([
      { secret: 'pk_alpha', credits: 10 },
      { secret: 'pk_beta', credits: null },
    ]);
    const alpha = await s.keys.authenticate('pk_alpha');
    assert.deepEqual([alpha?.origin, alpha?.credits], ['config', 10]);
    await s.jobs.create(makeJob({ keyId: alpha!.id, cost: 3 }), { charge: true });
    const stored = await s.keys.create({ name: 'cli', credits: 1 });
    await s.close();

    const restarted = await s.reopen();
    await restarted.keys.syncConfigKeys([{ secret: 'pk_alpha', credits: 10 }]);
    const again = await restarted.keys.authenticate('pk_alpha');
    assert.equal(again?.id, alpha?.id);
    assert.equal(again?.credits, 7, 'the balance is not reset to the configured 10');
    assert.equal(await restarted.keys.authenticate('pk_beta'), undefined, 'no longer configured');
    assert.ok(await restarted.keys.authenticate(stored.secret), 'store keys are not touched by a sync');
    assert.equal(await restarted.keys.count(), 2);
  });

  test('a config entry turns unlimited with null, and a re-listed key comes back live', async () => {
    const s = await backend.fresh();
    await s.keys.syncConfigKeys([{ secret: 'pk_alpha', credits: 5 }]);
    await s.keys.syncConfigKeys([{ secret: 'pk_alpha', credits: null }]);
    assert.equal((await s.keys.authenticate('pk_alpha'))?.credits, null);
    await s.keys.syncConfigKeys([{ secret: 'pk_alpha', credits: 8 }]);
    assert.equal(
      (await s.keys.authenticate('pk_alpha'))?.credits,
      8,
      'an unlimited key has no balance to keep',
    );
    await s.keys.syncConfigKeys([]);
    assert.equal(await s.keys.count(), 0);
    await s.keys.syncConfigKeys([{ secret: 'pk_alpha', credits: 100 }]);
    assert.equal((await s.keys.authenticate('pk_alpha'))?.credits, 8);
    assert.equal((await s.keys.list()).length, 1);
  });

  test('credits are set, added and removed in hundredths; removal stops at zero; unlimited stays unlimited', async () => {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 0.1 });
    assert.equal((await s.keys.addCredits(key.id, 0.2))?.credits, 0.3);
    assert.equal((await s.keys.addCredits(key.id, -1))?.credits, 0);
    assert.equal((await s.keys.setCredits(key.id, 2.5))?.credits, 2.5);
    assert.equal((await s.keys.setCredits(key.id, null))?.credits, null);
    assert.equal((await s.keys.addCredits(key.id, 5))?.credits, null);
    assert.equal(await s.keys.setCredits('key_missing', 1), undefined);
    assert.ok(isPixeliftError(await rejection(s.keys.setCredits(key.id, -1)), 'invalid_argument'));
  });

  test('list returns every key, revoked ones included, in creation order', async () => {
    const s = await backend.fresh();
    const a = await s.keys.create({ name: 'a', credits: null });
    const b = await s.keys.create({ name: 'b', credits: null });
    await s.keys.revoke(a.key.id);
    assert.deepEqual(
      (await s.keys.list()).map((k) => [k.name, k.revokedAt !== null]),
      [
        ['a', true],
        ['b', false],
      ],
    );
    assert.equal((await s.keys.get(b.key.id))?.name, 'b');
  });
}
