/** Output comparison for the precision experiments, on the 0..1 scale the app saves. */

export interface Difference {
  /** dB against the reference, both clamped to 0..1; Infinity when identical. */
  readonly psnr: number;
  readonly maxAbs: number;
}

export function compare(reference: Float32Array, candidate: Float32Array): Difference {
  if (reference.length !== candidate.length) {
    throw new RangeError(`outputs differ in size: ${reference.length} vs ${candidate.length}`);
  }
  let se = 0;
  let maxAbs = 0;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  for (let i = 0; i < reference.length; i++) {
    const d = clamp(candidate[i]!) - clamp(reference[i]!);
    se += d * d;
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  const mse = se / reference.length;
  return { psnr: mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(1 / mse), maxAbs };
}
