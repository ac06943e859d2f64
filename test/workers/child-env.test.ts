import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HUGE_PAGES_TUNABLE, workerEnv } from '../../src/workers/child-env.js';

test('worker children get huge pages for malloc, after any tunables of the parent; a hugetlb the user set wins', () => {
  assert.equal(workerEnv({ PATH: '/bin' }).GLIBC_TUNABLES, HUGE_PAGES_TUNABLE);
  assert.equal(workerEnv({ PATH: '/bin' }).PATH, '/bin');
  assert.equal(
    workerEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES,
    'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1',
  );
  assert.equal(
    workerEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES,
    'glibc.malloc.hugetlb=0',
  );
  assert.equal(
    workerEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2' }).GLIBC_TUNABLES,
    'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2',
  );
  // A name that only ends like it is not the tunable.
  assert.equal(
    workerEnv({ GLIBC_TUNABLES: 'x.hugetlb=0' }).GLIBC_TUNABLES,
    'x.hugetlb=0:glibc.malloc.hugetlb=1',
  );
});
