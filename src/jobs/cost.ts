/**
 * What a job costs and how long it should take, from its plan: credits by output megapixels,
 * weighted by how heavy the model is (the landscape's convention: Topaz, Apiframe and Runware
 * all price by output size), and an ETA from the model's measured speed.
 */
import type { Plan } from '../engine/plan.js';
import type { ModelEntry, ModelKind } from '../models/catalog.js';

/** Credits per output megapixel, by model kind. */
export const CREDITS_PER_MEGAPIXEL: Readonly<Record<ModelKind, number>> = {
  classical: 0.1,
  fast: 0.5,
  faithful: 1,
  gan: 1,
  // Never a job's model (the face pass is priced with the job); listed for the catalog.
  face: 1,
};

/** Rounded up to the hundredth, never below 0.01: a job is never free unless the rate is 0. */
export function jobCost(model: ModelEntry, outputWidth: number, outputHeight: number): number {
  const mp = (outputWidth * outputHeight) / 1e6;
  const raw = mp * CREDITS_PER_MEGAPIXEL[model.kind];
  return raw === 0 ? 0 : Math.max(0.01, Math.ceil(raw * 100 - 1e-9) / 100);
}

/** Input kpx/s assumed for a model with no measured speed (a user model): slow, to under-promise. */
const UNKNOWN_KPX_PER_SECOND = 5;

/**
 * Seconds to run the plan on one worker: every pass costs its input pixels at the model's
 * speed (measured at its default scale; an 8x pass on a 4x input is 16x the pixels of the first).
 */
export function runSeconds(model: ModelEntry, plan: Plan): number {
  const kpx = model.kpxPerSecond ?? UNKNOWN_KPX_PER_SECOND;
  let pixels = 0;
  let w = plan.networkInput.width;
  let h = plan.networkInput.height;
  for (const s of plan.passes) {
    pixels += w * h;
    w *= s;
    h *= s;
  }
  // Decode, resampling and encode: about 1 s per 25 output megapixels on 2 cores (bench:engine).
  const overhead = 0.2 + (plan.output.width * plan.output.height) / 25e6;
  return pixels / 1000 / kpx + overhead;
}
