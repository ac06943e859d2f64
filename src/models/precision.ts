/**
 * Which numbers a network runs in: `fp32`, `int8` (a static QDQ version of the fp32 ONNX file,
 * quantize.ts, cached like every conversion), or `auto`: int8 only for the built-in models whose
 * int8 meets the quality bar (INT8_AUTO), fp32 for the rest.
 */
import { PRECISIONS, type Precision } from '../config.js';
import { invalidArgument, PixeliftError } from '../errors.js';
import { isClassical, type ModelEntry } from './catalog.js';
import { INT8_AUTO, type Int8Auto } from './quantize.js';

export { PRECISIONS, type Precision } from '../config.js';
export type { Int8Auto } from './quantize.js';
/** What a network actually runs in. */
export type RunPrecision = 'fp32' | 'int8';

/**
 * Whether the model has an int8 version: every network does (it is made from the fp32 ONNX
 * file, user models included); classical resamplers have no network.
 */
export function hasInt8(model: ModelEntry): boolean {
  return !isClassical(model);
}

/** The native scales at which `auto` runs the model in int8 (`auto`, default INT8_AUTO); none for user models. */
export function autoInt8Scales(model: ModelEntry, auto: Int8Auto = INT8_AUTO): readonly number[] {
  return model.origin === 'builtin' && hasInt8(model) ? (auto.get(model.id) ?? []) : [];
}

/**
 * What `auto` runs the model in: int8 for built-ins measured to meet the bar, else fp32. Without
 * `scale`, at any of its scales (a request's passes are planned later; the engine runs the
 * passes at other scales in fp32).
 */
export function autoPrecision(model: ModelEntry, auto: Int8Auto = INT8_AUTO, scale?: number): RunPrecision {
  const scales = autoInt8Scales(model, auto);
  return (scale === undefined ? scales.length > 0 : scales.includes(scale)) ? 'int8' : 'fp32';
}

/**
 * The precision a request runs in. An explicit `int8` for a model without a network is refused
 * (precision_unsupported); a server default (`fallback`, PIXELIFT_PRECISION) of int8 is not a
 * request, so it falls back to fp32 there.
 */
export function runPrecision(
  model: ModelEntry,
  requested: Precision | undefined,
  fallback: Precision = 'fp32',
  auto: Int8Auto = INT8_AUTO,
): RunPrecision {
  if (requested !== undefined && !PRECISIONS.includes(requested)) {
    throw invalidArgument('precision', `one of ${PRECISIONS.join(', ')}`, requested);
  }
  const p = requested ?? fallback;
  if (p === 'auto') return autoPrecision(model, auto);
  if (p === 'int8' && !hasInt8(model)) {
    if (requested === undefined) return 'fp32';
    throw new PixeliftError('precision_unsupported', {
      model: model.id,
      precision: p,
      reason: 'it is a classical resampler, with no network to quantize',
    });
  }
  return p;
}
