/**
 * The environment a worker child starts with: the parent's, plus glibc's malloc asked to back
 * its large blocks with transparent huge pages (`glibc.malloc.hugetlb=1`, glibc ≥ 2.35; older
 * ones ignore it, as does a kernel whose THP mode is `never`).
 *
 * Why: a segment session's first run on a large window faults in its whole arena 4 KiB page by
 * page (x4plus's trunk over a 640x427 photo: ~1 GB, ~250k faults). With huge pages that first
 * run took 39.3 / 40.2 s instead of 46.7 / 45.9 s, and warm runs 39.6 / 41.5 instead of 40.6 /
 * 43.3 s, at the same peak RSS (1.84–1.87 GB; bench/exact-ways.ts --ways=coarse, two pairs back
 * to back, load 1–2, 2 December 2026). Only the page size changes:
 * unlike keeping freed memory on the heap (mmap_max=0 and a high trim threshold, tried and
 * dropped: x4fast at 4 MP went 420 MB over its budget), nothing is held longer.
 *
 * A GLIBC_TUNABLES the user set is kept; one that already names hugetlb wins.
 */
export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

export function workerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const own = env.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(own)) return { ...env };
  return { ...env, GLIBC_TUNABLES: own ? `${own}:${HUGE_PAGES_TUNABLE}` : HUGE_PAGES_TUNABLE };
}
