import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Upload } from '../../../src/jobs/store.js';
import { at, T0 } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

export function uploadStoreContract(backend: StoreBackend): void {
  function upload(id: string, expiresInMs: number, keyId: string | null = null): Upload {
    return {
      id,
      keyId,
      blobKey: `uploads/${id}.bin`,
      bytes: 2048,
      contentType: 'image/jpeg',
      width: 32,
      height: 16,
      format: 'jpeg',
      createdAt: T0.toISOString(),
      expiresAt: at(expiresInMs).toISOString(),
    };
  }

  test('an upload reads back exactly as created', async () => {
    const s = await backend.fresh();
    const u = upload('upl_1', 60_000, 'key_a');
    assert.deepEqual(await s.uploads.create(u), u);
    assert.deepEqual(await s.uploads.get('upl_1'), u);
    assert.equal(await s.uploads.get('upl_missing'), undefined);
  });

  test('expire removes and returns the uploads due by now, keeping later ones', async () => {
    const s = await backend.fresh();
    await s.uploads.create(upload('upl_soon', 1000));
    await s.uploads.create(upload('upl_now', 2000));
    await s.uploads.create(upload('upl_later', 3000));
    assert.deepEqual(await s.uploads.expire(at(999)), []);
    const expired = await s.uploads.expire(at(2000));
    assert.deepEqual(expired.map((u) => u.id).sort(), ['upl_now', 'upl_soon']);
    assert.equal(expired[0]?.blobKey.startsWith('uploads/'), true);
    assert.equal(await s.uploads.get('upl_soon'), undefined);
    assert.ok(await s.uploads.get('upl_later'));
    assert.deepEqual(await s.uploads.expire(at(2000)), [], 'nothing is returned twice');
  });
}
