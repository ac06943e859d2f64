/**
 * One image through one model (DESIGN §4):
 *   probe (limits, from the header) → plan → decode (upright, alpha split off)
 *   → fix_compression, denoise → network passes, tiled → exact-size resample → crop
 *   → sharpen → encode (ICC re-attached, metadata on request).
 * Alpha is resampled separately (Lanczos-3) and recombined at encode. Pure of HTTP and jobs;
 * the worker pool runs it in child processes, never on a server's event loop.
 */
import { DEFAULTS, type Limits } from '../config.js';
import { invalidArgument } from '../errors.js';
import type { ModelEntry } from '../models/catalog.js';
import { autoPrecision, type Precision, type RunPrecision, runPrecision } from '../models/precision.js';
import type { Tile } from '../models/runner.js';
import type { ModelStore } from '../models/store.js';
import { decode, probe } from './decode.js';
import { type EncodeOptions, encode, type Interleaved16Image, type OutputFormat } from './encode.js';
import { type FaceOptions, type FaceReport, prepareFacePass } from './faces/pass.js';
import { defaultMemoryBudget } from './memory.js';
import { pace, processRates, type RunEstimate } from './pace.js';
import { type Fit, type OversizePolicy, plan } from './plan.js';
import { checkKnobs, denoise, fixCompression, type Knobs, knobsWithPreset, sharpen } from './post.js';
import { type Kernel, resample } from './resample.js';
import { fitsOneWindow, fitsWhole, runOneWindow, runSegmented } from './segmented.js';
import { crop, interleaved16Sink, planarSink, runTiled, type Sink } from './tiles.js';

export { OUTPUT_FORMATS, type OutputFormat } from './encode.js';

export interface UpscaleOptions extends Knobs {
  /** Model id or provider alias; default: the best installed general model. */
  readonly model?: string;
  /**
   * `fp32`, `int8` (quantized from the fp32 network; refused with precision_unsupported for a
   * classical resampler) or `auto` (int8 where it meets the quality bar, src/models/precision.ts).
   * Unset: `defaultPrecision`.
   */
  readonly precision?: Precision;
  /**
   * What an unset `precision` means (default fp32; the library, CLI and server pass
   * PIXELIFT_PRECISION, default `auto`). Unlike an explicit int8, a default of int8 runs a
   * classical resampler in fp32 rather than refusing it.
   */
  readonly defaultPrecision?: Precision;
  /** Output/input ratio, any number in [1, 16]; default 4 (unless width/height are given). */
  readonly scale?: number;
  readonly width?: number;
  readonly height?: number;
  /** With both width and height: contain (default), cover (crop to fill) or fill (stretch). */
  readonly fit?: Fit;
  /** When the output would exceed the cap: reject (default) or shrink the input to fit. */
  readonly oversize?: OversizePolicy;
  /** Cap on each output side, px, on top of the megapixel limit (the oversize policy applies). */
  readonly maxOutputSide?: number;
  readonly format?: OutputFormat;
  readonly quality?: number;
  readonly progressive?: boolean;
  readonly lossless?: boolean;
  readonly bitDepth?: 8 | 16;
  /** Keep EXIF/XMP (the ICC profile is always kept). */
  readonly keepMetadata?: boolean;
  /** Colour JPEG flattens transparency onto. */
  readonly background?: string;
  /**
   * Tile side in input pixels for whole-network tiling with context (default: the model's own).
   * Ignored under `tiling: 'exact'` unless set explicitly, which then wins.
   */
  readonly tile?: number;
  /**
   * `exact` (the default): a network that can be cut into segments is tiled segment by segment
   * with only each segment's halo, within `memoryBudget` (equal to a whole-image run); the rest
   * fall back to `context`. `context`: the whole network over overlapping tiles with reflected
   * context (2–3× slower: every tile pays the network's whole receptive field, issue 12).
   */
  readonly tiling?: 'exact' | 'context';
  /** Working memory for one image's inference, bytes (default: `defaultMemoryBudget()`). */
  readonly memoryBudget?: number;
  readonly limits?: Limits;
  /** Find faces and restore them (src/engine/faces/pass.ts). */
  readonly face?: FaceOptions;
}

export interface UpscaleHooks {
  readonly signal?: AbortSignal;
  /** Fraction 0..1 of the inference work done (per tile, segment window, or whole-image run). */
  readonly onProgress?: (fraction: number) => void;
  /**
   * Before a network run that will hold this thread for ANNOUNCE_MS or more (pace.ts): progress
   * now, at the run's end, and how long it should take. A caller whose event loop stays free can
   * move a progress bar on meanwhile (the worker pool does, src/workers/progress.ts).
   */
  readonly onEstimate?: (estimate: RunEstimate) => void;
  /** Something the caller should hear before the work goes on (an int8 file quantized for this request). */
  readonly onNotice?: (message: string) => void;
}

export interface UpscaleInfo {
  readonly input: { readonly width: number; readonly height: number; readonly format: string };
  /** The input after the `downscale_input` oversize policy, when it applied. */
  readonly networkInput: { readonly width: number; readonly height: number };
  readonly output: {
    readonly width: number;
    readonly height: number;
    readonly format: OutputFormat;
    readonly bitDepth: 8 | 16;
    readonly bytes: number;
  };
  readonly model: { readonly requested: string; readonly used: string };
  /** What the network ran in (fp32 for classical resampling). */
  readonly precision: RunPrecision;
  /** Native network scales run in order (empty for classical resampling). */
  readonly passes: readonly number[];
  readonly tile: number;
  /** exact: segment by segment, equal to a whole-image run; context: whole-network tiles with context. */
  readonly tiling: 'exact' | 'context' | 'none';
  readonly device: string;
  readonly timings: { readonly decodeMs: number; readonly inferMs: number; readonly encodeMs: number };
  readonly warnings: readonly string[];
  /** Faces found (input pixels), when the request asked for faces. */
  readonly faces?: readonly FaceReport[];
}

export interface UpscaleResult {
  readonly data: Buffer;
  readonly info: UpscaleInfo;
}

/** Input pixels neighbouring tiles share and blend across (on top of each model's context). */
export const TILE_OVERLAP = 8;
/**
 * Reflected border around the image for exact tiling: the networks were trained on crops and
 * darken or tint a zero-padded edge (x4plus by up to 8.8/255 8 px in, see
 * test/models/realesrgan-properties.test.ts). A one-window run computes it through the whole
 * network (x4fast on rocket.jpg, 640x427: 459x672 px, +13 %), yet less is not exact enough for
 * x4fast: its kept pixels differ from a 48 px border's by 2.6/255 at 16 px, 14.7/255 at 8 px
 * (bench/border-probe.ts). Models measured to need less say so in ModelEntry.exactBorder.
 */
export const EXACT_BORDER = 16;

/** The reflected border a model's pass at native scale `s` runs with (ModelEntry.exactBorder). */
export const exactBorder = (model: ModelEntry, s: number): number => model.exactBorder?.[s] ?? EXACT_BORDER;

export async function upscaleImage(
  store: ModelStore,
  input: Buffer | string,
  options: UpscaleOptions = {},
  hooks: UpscaleHooks = {},
): Promise<UpscaleResult> {
  const t0 = performance.now();
  const limits = options.limits ?? DEFAULTS.limits;
  checkKnobs(options);
  const resolved = store.resolve(options.model);
  const model = resolved.model;
  const asked = options.precision ?? options.defaultPrecision ?? 'fp32';
  let precision = runPrecision(model, options.precision, options.defaultPrecision, store.int8Auto);
  const tile = options.tile ?? model.tile;
  if (!Number.isInteger(tile) || tile < 16 || tile > 4096)
    throw invalidArgument('tile', 'integer in [16, 4096]', tile);
  const knobs = knobsWithPreset(options, resolved.preset);

  // Everything that can be refused is refused from the header, before pixels are decoded.
  const source = await probe(input, limits);
  const p = plan(
    {
      ...options,
      input: { width: source.width, height: source.height },
      maxOutputMegapixels: limits.maxOutputMegapixels,
    },
    model,
  );
  const format = options.format ?? 'png';
  const encodeOptions: EncodeOptions = {
    format,
    quality: options.quality,
    progressive: options.progressive,
    lossless: options.lossless,
    bitDepth: options.bitDepth,
    keepMetadata: options.keepMetadata,
    background: options.background,
  };
  hooks.signal?.throwIfAborted();
  const notes: string[] = [];
  if (precision === 'int8') {
    precision = await int8OrFp32(store, model, p.passes, asked === 'auto', hooks, notes);
  }

  const decoded = await decode(input, limits);
  let rgb: Tile = { data: decoded.rgb, width: decoded.width, height: decoded.height };
  let alpha = decoded.alpha;
  if (p.networkInput.width !== rgb.width || p.networkInput.height !== rgb.height) {
    rgb = resized(rgb, p.networkInput.width, p.networkInput.height, 'lanczos3');
  }
  rgb = denoise(fixCompression(rgb, knobs.fix_compression), knobs.denoise);
  const decodeMs = performance.now() - t0;

  const t1 = performance.now();
  let device = 'cpu';
  // Faces are found on the network input and treated on the assembled output (no tile seams).
  const facePass = options.face?.enabled
    ? await prepareFacePass(
        store,
        rgb,
        options.face,
        { x: decoded.width / rgb.width, y: decoded.height / rgb.height },
        store.defaultFaceModel,
      )
    : undefined;
  // When the last pass's output is the final image (no resample, crop, sharpen or alpha), it is
  // written straight into the 16-bit buffer the encoder takes: 6 bytes a pixel, not 12 + 3.
  const direct =
    !facePass &&
    p.passes.length > 0 &&
    p.networkOutput.width === p.resized.width &&
    p.networkOutput.height === p.resized.height &&
    !p.crop &&
    knobs.sharpen === 0 &&
    !alpha;
  let finalImage: Interleaved16Image | undefined;
  let tiling: UpscaleInfo['tiling'] = 'none';
  for (const [i, s] of p.passes.entries()) {
    const budget = options.memoryBudget ?? defaultMemoryBudget();
    const plans =
      (options.tiling ?? 'exact') === 'exact' && options.tile === undefined
        ? await store.segmentPlans(model.id, s, precision)
        : undefined;
    const border = exactBorder(model, s);
    // Small enough to run whole in one window (with the border: exact by definition), else cut.
    // Measured with bench/exact-ways.ts, the one window is the fastest exact way where it fits:
    // the cuts pay their boundaries, and whole-network tiles or strips with the full receptive
    // halo pay more halo than smaller windows save (x4fast on rocket.jpg: coarse 0.84×, fine
    // 0.77×, 256 px tiles 0.60×, 256-row strips 0.80× the one window's speed).
    const one = plans !== undefined && fitsOneWindow(plans.coarse, budget, rgb.width, rgb.height, border);
    const grain = plans && fitsWhole(plans.coarse, budget, rgb.width, rgb.height, border) ? 'coarse' : 'fine';
    // Held until this pass ends, so no other job's cut can release its sessions mid-run.
    using lease = plans && !one ? await store.openSegmented(model.id, s, grain, precision) : undefined;
    const segmented = lease?.runner;
    const runner = segmented ? undefined : await store.open(model.id, s, precision);
    const passDevice = (segmented ?? runner)!.device;
    device = passDevice;
    tiling = segmented || one ? 'exact' : 'context';
    const toJob = (f: number) => (i + f) / p.passes.length;
    const onProgress = (d: number, total: number) => hooks.onProgress?.(toJob(d / total));
    const paced = pace(processRates, passDevice, precision, hooks.onEstimate, toJob);
    const exact = { border, signal: hooks.signal, onProgress, pace: paced };
    const upscale = <T>(sink: Sink<T>): Promise<T> =>
      segmented
        ? runSegmented(rgb, segmented, { ...exact, budget }, sink)
        : one
          ? runOneWindow(rgb, runner!, plans.coarse, exact, sink)
          : runTiled(
              rgb,
              s,
              (t: Tile) => runner!.run(t),
              {
                tile,
                pad: model.context,
                overlap: TILE_OVERLAP,
                signal: hooks.signal,
                onProgress,
                pace: paced,
                // The catalog's FLOPs are 2 × multiply-adds, per input pixel.
                macsPerPixel: (model.cost[s]?.flops ?? 0) / 2,
              },
              sink,
            );
    const [ow, oh] = [rgb.width * s, rgb.height * s];
    if (direct && i === p.passes.length - 1) {
      finalImage = { rgb16: await upscale(interleaved16Sink(ow, oh)), width: ow, height: oh };
    } else {
      rgb = await upscale(planarSink(ow, oh));
    }
  }
  if (p.passes.length === 0) hooks.onProgress?.(1);
  if (!finalImage) {
    const kernel: Kernel =
      model.source.format === 'classical' && model.source.kernel === 'cubic' ? 'cubic' : 'lanczos3';
    if (rgb.width !== p.resized.width || rgb.height !== p.resized.height) {
      rgb = resized(rgb, p.resized.width, p.resized.height, kernel);
    }
    if (alpha) {
      alpha = clamp01(
        resample(alpha, 1, decoded.width, decoded.height, p.resized.width, p.resized.height, 'lanczos3'),
      );
    }
    if (p.crop) {
      const { left, top, width, height } = p.crop;
      rgb = { data: crop(rgb, left, top, width, height), width, height };
      if (alpha) alpha = cropPlane(alpha, p.resized.width, left, top, width, height);
    }
    await facePass?.apply(
      rgb,
      {
        scaleX: p.resized.width / p.networkInput.width,
        scaleY: p.resized.height / p.networkInput.height,
        offsetX: p.crop?.left ?? 0,
        offsetY: p.crop?.top ?? 0,
      },
      hooks.signal,
    );
    rgb = sharpen(rgb, knobs.sharpen);
  }
  const inferMs = performance.now() - t1;

  hooks.signal?.throwIfAborted();
  const t2 = performance.now();
  const encoded = await encode(
    finalImage ?? { rgb: rgb.data, alpha, width: rgb.width, height: rgb.height },
    decoded.source,
    encodeOptions,
  );
  const encodeMs = performance.now() - t2;

  return {
    data: encoded.data,
    info: {
      input: { width: source.width, height: source.height, format: source.format },
      networkInput: p.networkInput,
      output: {
        width: p.output.width,
        height: p.output.height,
        format,
        bitDepth: encoded.bitDepth,
        bytes: encoded.data.length,
      },
      model: { requested: resolved.requested, used: model.id },
      precision,
      passes: p.passes,
      tile,
      tiling,
      device,
      timings: {
        decodeMs: Math.round(decodeMs),
        inferMs: Math.round(inferMs),
        encodeMs: Math.round(encodeMs),
      },
      warnings: [
        ...resolved.warnings,
        ...p.warnings,
        ...notes,
        ...decoded.warnings,
        ...(facePass?.warnings ?? []),
        ...encoded.warnings,
      ],
      ...(facePass ? { faces: facePass.found } : {}),
    },
  };
}

/**
 * What the passes run in when int8 was asked for. `auto` never waits for a quantization: the
 * int8 file is used when it is prepared, else this request runs in fp32 (and the store may be
 * quantizing it in the background for later ones). An explicit int8 quantizes a missing file
 * now, once per process however many requests wait (ModelStore.prepare), and says so first.
 */
async function int8OrFp32(
  store: ModelStore,
  model: ModelEntry,
  passes: readonly number[],
  auto: boolean,
  hooks: UpscaleHooks,
  notes: string[],
): Promise<RunPrecision> {
  const id = model.id;
  const scales = [...new Set(passes)];
  if (auto) {
    // int8 only where it was measured to meet the bar: a pass at another native scale runs fp32.
    if (scales.some((s) => autoPrecision(model, store.int8Auto, s) !== 'int8')) return 'fp32';
    const states = await Promise.all(scales.map((s) => store.autoInt8(id, s)));
    const missing = states.find((st) => st !== 'ready');
    if (missing === undefined) return 'int8';
    // While it is quantized in the background the store logs it and `info.precision` says fp32:
    // the request got what `auto` promises, so it carries no warning. Without a background
    // quantization (the CLI) the user is told how to get int8.
    if (missing === 'missing')
      notes.push(
        `Ran in fp32: the int8 version of ${id} is not prepared; \`pixelift models prepare ${id}\` makes it.`,
      );
    return 'fp32';
  }
  for (const s of scales) {
    const t0 = performance.now();
    let quantized = false;
    await store.prepare(id, s, 'int8', () => {
      quantized = true;
      hooks.onNotice?.(
        `Quantizing ${id} ×${s} to int8 before this request runs (once; \`pixelift models prepare ${id} --precision int8\` does it ahead).`,
      );
    });
    if (quantized) {
      const secs = Math.round((performance.now() - t0) / 1000);
      notes.push(
        `${id} ×${s} was quantized to int8 for this request (${secs} s); \`pixelift models prepare ${id} --precision int8\` does it ahead.`,
      );
    }
  }
  return 'int8';
}

function resized(img: Tile, width: number, height: number, kernel: Kernel): Tile {
  return { data: resample(img.data, 3, img.width, img.height, width, height, kernel), width, height };
}

function clamp01(a: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! < 0 ? 0 : a[i]! > 1 ? 1 : a[i]!;
  return a;
}

function cropPlane(
  plane: Float32Array,
  width: number,
  left: number,
  top: number,
  w: number,
  h: number,
): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    out.set(plane.subarray((top + y) * width + left, (top + y) * width + left + w), y * w);
  return out;
}
