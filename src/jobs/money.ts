/**
 * Credits in the database are INTEGER hundredths: summing floats drifts (0.1 + 0.2 ≠ 0.3), and a
 * balance that drifts below a cost by 1e-16 would refuse a job the user can pay for.
 */

/** Credits → hundredths, rounded to the nearest (toPrecision first: 0.285 * 100 is 28.499999…). */
export function toHundredths(credits: number): number {
  return Math.round(Number((credits * 100).toPrecision(12)));
}

export function fromHundredths(hundredths: number): number {
  return hundredths / 100;
}
