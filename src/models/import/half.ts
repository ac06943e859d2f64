/**
 * IEEE 754 half-precision decoding. Node 20 has no Float16Array, and the one library that
 * adds it (@petamoriken/float16) would be a dependency for ten lines of bit arithmetic.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decode one IEEE half (as its 16-bit pattern) to a JS number. */
export function halfToFloat(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    // zero or subnormal: mant * 2^-24
    const v = mant * 2 ** -24;
    return sign ? -v : v;
  }
  if (exp === 31) {
    u32[0] = sign | 0x7f800000 | (mant << 13);
    return f32[0]!;
  }
  u32[0] = sign | ((exp + 112) << 23) | (mant << 13);
  return f32[0]!;
}

/** Decode `count` little-endian halves starting at `offset` of `bytes`. */
export function decodeHalves(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const p = offset + 2 * i;
    out[i] = halfToFloat(bytes[p]! | (bytes[p + 1]! << 8));
  }
  return out;
}
