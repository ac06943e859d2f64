import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cpuFlags, weightBitsFor } from '../../src/models/int8-cpu.js';

test('weights get 8 bits only where the CPU has VNNI (int32 accumulation), 7 on AVX2 alone or an unknown CPU', () => {
  assert.equal(weightBitsFor(new Set(['sse4_2', 'avx2', 'fma', 'avx512f', 'avx512_vnni'])), 8);
  assert.equal(weightBitsFor(new Set(['avx2', 'fma', 'avx_vnni'])), 8);
  assert.equal(weightBitsFor(new Set(['sse4_2', 'avx2', 'fma', 'avx512f', 'avx512bw'])), 7);
  assert.equal(weightBitsFor(new Set()), 7);
});

test('cpuFlags reads the flags line of a cpuinfo file, and is empty when there is none', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-cpuinfo-'));
  const file = path.join(dir, 'cpuinfo');
  fs.writeFileSync(
    file,
    'processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_vnni avx_vnni\nbugs\t\t: sysret_ss_attrs\n\nprocessor\t: 1\nflags\t\t: fpu avx2 avx512_vnni avx_vnni\n',
  );
  const flags = cpuFlags(file);
  assert.ok(flags.has('avx512_vnni') && flags.has('avx2') && flags.has('fpu'), [...flags].join(' '));
  assert.ok(!flags.has('sysret_ss_attrs'), 'the bugs line is not flags');
  assert.equal(weightBitsFor(flags), 8);
  assert.equal(cpuFlags(path.join(dir, 'missing')).size, 0);
  fs.rmSync(dir, { recursive: true, force: true });
});
