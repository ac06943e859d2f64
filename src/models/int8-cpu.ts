/**
 * How many bits an int8 file's weights get, from the CPU it is made on (docs/int8.md).
 *
 * onnxruntime's u8 × s8 QLinearConv on x86 multiplies with `vpmaddubsw` on AVX2: it adds each
 * pair of u8 × s8 products into int16 and saturates (255 × 127 × 2 = 64770 > 32767), so weights
 * get 7 bits there (255 × 63 × 2 < 32767). With AVX-512 VNNI or AVX-VNNI it uses `vpdpbusd`,
 * which adds into int32: 8-bit weights are exact, and better (bench:int8, this AMD EPYC with
 * VNNI: x4plus 37.61 dB vs fp32 with 8 bits, 35.36 with 7; x4fast 36.96 and 33.60). A file
 * made for one kind of CPU is wrong on the other, so the bits are part of the int8 cache key
 * (conversion-cache.ts). Elsewhere (no /proc/cpuinfo, ARM) nothing was measured: 7 bits,
 * which cannot saturate on any kernel.
 */
import { readFileSync } from 'node:fs';

export type WeightBits = 7 | 8;

/** 8 when the CPU flags name a VNNI extension (int32 accumulation), else 7. */
export function weightBitsFor(flags: ReadonlySet<string>): WeightBits {
  return flags.has('avx512_vnni') || flags.has('avx_vnni') ? 8 : 7;
}

/** The CPU's feature flags as Linux lists them in /proc/cpuinfo; empty where it cannot be read. */
export function cpuFlags(cpuinfo = '/proc/cpuinfo'): Set<string> {
  let text: string;
  try {
    text = readFileSync(cpuinfo, 'utf8');
  } catch {
    return new Set();
  }
  const line = text.split('\n').find((l) => /^flags\s*:/.test(l));
  return new Set(
    line
      ? line
          .slice(line.indexOf(':') + 1)
          .trim()
          .split(/\s+/)
      : [],
  );
}

/** The weight bits quantizeInt8 uses in this process (read once). */
export const INT8_WEIGHT_BITS: WeightBits = weightBitsFor(cpuFlags());
