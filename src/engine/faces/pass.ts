/**
 * The face pass the pipeline runs when a request asks for faces (issue 15):
 *   detect on the network input (before upscaling) → after the whole image is upscaled and
 *   assembled (so tile borders never cut a face), for each face: align to the FFHQ 512
 *   template, restore with the face model, paste back with the feathered mask × strength.
 * With no face model installed, each face region is upscaled again with the faithful model and
 * pasted back through the same mask, and a warning says so and how to add a face model.
 */
import ort from 'onnxruntime-node';
import { invalidArgument, PixeliftError } from '../../errors.js';
import type { ModelEntry } from '../../models/catalog.js';
import type { Tile } from '../../models/runner.js';
import type { ModelStore } from '../../models/store.js';
import { planarSink, runTiled } from '../tiles.js';
import { FACE_SIZE, FFHQ_TEMPLATE_512, type Similarity, similarity } from './align.js';
import { alignedFace, clip01, faceRegion, fromRestored, pasteFace, type Replacement } from './composite.js';
import { bilinear, detectFaces, type Face, type Point } from './detect.js';

export interface FaceOptions {
  readonly enabled?: boolean;
  /** Id of an installed face model; default PIXELIFT_FACE_MODEL, else the faithful fallback. */
  readonly model?: string;
  /** 0..1: 0 leaves faces as upscaled, 1 pastes the restored face fully (default 1). */
  readonly strength?: number;
  /** 0..1: how far the face model may stray from the input (CodeFormer w = 1 − creativity); default 0.5. */
  readonly creativity?: number;
}

/** A found face as reported on a job and in `info`, in the pixels of the input image. */
export interface FaceReport {
  readonly box: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
  readonly score: number;
  /** Left eye, right eye, nose tip, mouth left, mouth right. */
  readonly landmarks: readonly Point[];
}

/** How network-input pixels map onto the final image: out = (in + ½)·scale − ½ − offset. */
export interface OutputMapping {
  readonly scaleX: number;
  readonly scaleY: number;
  readonly offsetX: number;
  readonly offsetY: number;
}

/** Face restoration network: a 512² aligned face (RGB 0..1) in, the restored face out. */
export type FaceRestorer = (aligned: Tile, fidelity: number) => Promise<Tile>;

/** A face network honouring the face contract: `input` [1,3,512,512] → `output`, optional `w` [1]. */
export function onnxRestorer(session: ort.InferenceSession): FaceRestorer {
  const withW = session.inputNames.includes('w');
  return async (aligned, fidelity) => {
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('float32', aligned.data, [1, 3, FACE_SIZE, FACE_SIZE]),
    };
    if (withW) feeds.w = new ort.Tensor('float32', Float32Array.of(fidelity), [1]);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await session.run(feeds);
    } catch (err) {
      throw new PixeliftError('inference_failed', { message: (err as Error).message }, { cause: err });
    }
    const t = out.output ?? out[session.outputNames[0]!]!;
    const data = Float32Array.from(t.data as Float32Array, (v) => (v < 0 ? 0 : v > 1 ? 1 : v));
    if (data.length !== 3 * FACE_SIZE * FACE_SIZE) {
      throw new PixeliftError('inference_failed', {
        message: `the face model gave ${t.dims.join('x')}, not 1x3x512x512`,
      });
    }
    return { data, width: FACE_SIZE, height: FACE_SIZE };
  };
}

/** Restore every face of `img` (final pixels) in place; `faces` already in `img`'s pixels. */
export async function restoreFaces(
  img: Tile,
  landmarks: readonly (readonly Point[])[],
  restorer: FaceRestorer,
  opts: { strength: number; creativity: number; signal?: AbortSignal },
): Promise<void> {
  if (!(opts.strength > 0)) return;
  for (const lm of landmarks) {
    opts.signal?.throwIfAborted();
    const t = similarity(lm, FFHQ_TEMPLATE_512);
    const restored = await restorer(alignedFace(img, t), 1 - opts.creativity);
    pasteFace(img, t, fromRestored(restored), opts.strength);
  }
}

export const FACE_MODEL_HINT = 'pixelift models add GFPGANv1.4.pth';

export function checkFaceOptions(face: FaceOptions): void {
  for (const k of ['strength', 'creativity'] as const) {
    const v = face[k];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1))
      throw invalidArgument(`face.${k}`, 'number in [0, 1]', v);
  }
}

/** Refuse, at submission, face options a run would refuse: bad numbers, a model that is not a face model. */
export function checkFaceRequest(store: ModelStore, face: FaceOptions): void {
  checkFaceOptions(face);
  if (face.enabled && face.model !== undefined && face.model !== '') faceModelFor(store, face.model);
}

function faceModelFor(store: ModelStore, id: string): ModelEntry {
  const m = store.get(id.trim().toLowerCase());
  if (m.kind !== 'face') throw invalidArgument('face.model', 'the id of an installed face model', id);
  return m;
}

/** The face models installed (user models whose architecture restores faces). */
export function faceModels(store: ModelStore): ModelEntry[] {
  return store.list().filter((m) => m.kind === 'face');
}

/** The faithful model the fallback uses: the catalog's faithful default when installed. */
function faithfulModel(store: ModelStore): ModelEntry | undefined {
  const list = store.list();
  return list.find((m) => m.id === 'rrdn-thick') ?? list.find((m) => m.kind === 'faithful');
}

export interface FacePass {
  /** Faces found, in the input image's pixels. */
  readonly found: readonly FaceReport[];
  readonly warnings: readonly string[];
  /** Run the pass on the final (assembled, resized, cropped) image, in place. */
  apply(img: Tile, map: OutputMapping, signal?: AbortSignal): Promise<void>;
}

/**
 * Detect faces on the network input and decide how they will be treated. `inputScale` maps
 * network-input pixels back to the input's (≠ 1 only when the input was shrunk to fit).
 */
export async function prepareFacePass(
  store: ModelStore,
  networkInput: Tile,
  face: FaceOptions,
  inputScale: { x: number; y: number },
  defaultFaceModel?: string,
): Promise<FacePass> {
  checkFaceOptions(face);
  const strength = face.strength ?? 1;
  const creativity = face.creativity ?? 0.5;
  const requested = face.model ?? defaultFaceModel;
  let restorerModel: ModelEntry | undefined;
  if (requested !== undefined && requested !== '') restorerModel = faceModelFor(store, requested);
  const faces = await detectFaces(networkInput);
  const found = faces.map((f) => reportOf(f, inputScale));
  const warnings: string[] = [];
  const faithful = restorerModel ? undefined : faithfulModel(store);
  if (!restorerModel && faces.length > 0) {
    warnings.push(
      faithful
        ? `No face model is installed: ${faces.length} face${faces.length === 1 ? ' was' : 's were'} upscaled with the faithful model ${faithful.id} and blended in; to restore faces, add one: ${FACE_MODEL_HINT}`
        : `No face model and no faithful model are installed: faces were found but left as upscaled; to restore faces, add one: ${FACE_MODEL_HINT}`,
    );
  }
  return {
    found,
    warnings,
    async apply(img, map, signal) {
      if (faces.length === 0 || !(strength > 0)) return;
      clip01(img);
      const toOut = (p: Point): Point => [
        (p[0] + 0.5) * map.scaleX - 0.5 - map.offsetX,
        (p[1] + 0.5) * map.scaleY - 0.5 - map.offsetY,
      ];
      const landmarks = faces.map((f) => f.landmarks.map(toOut));
      if (restorerModel) {
        const runner = await store.open(restorerModel.id, 1);
        await restoreFaces(img, landmarks, onnxRestorer(runner.session), { strength, creativity, signal });
        return;
      }
      if (!faithful) return;
      for (const lm of landmarks) {
        signal?.throwIfAborted();
        const t = similarity(lm, FFHQ_TEMPLATE_512);
        const replacement = await faithfulReplacement(store, faithful, networkInput, t, img, map, signal);
        pasteFace(img, t, replacement, strength);
      }
    },
  };
}

export function reportOf(f: Face, s: { x: number; y: number }): FaceReport {
  const r = (v: number) => Math.round(v * 1e4) / 1e4;
  return {
    box: {
      x: r(f.box.x * s.x),
      y: r(f.box.y * s.y),
      width: r(f.box.width * s.x),
      height: r(f.box.height * s.y),
    },
    score: Math.round(f.score * 1000) / 1000,
    landmarks: f.landmarks.map((p) => [r(p[0] * s.x), r(p[1] * s.y)] as const),
  };
}

/**
 * The face's region of the network input upscaled by the faithful model (at its smallest
 * native scale reaching the output's), read back at each output pixel with bilinear sampling.
 */
async function faithfulReplacement(
  store: ModelStore,
  model: ModelEntry,
  input: Tile,
  t: Similarity,
  img: Tile,
  map: OutputMapping,
  signal?: AbortSignal,
): Promise<Replacement> {
  const region = faceRegion(t, img.width, img.height);
  const toIn = (x: number, sx: number, off: number) => (x + off + 0.5) / sx - 0.5;
  const ctx = 2;
  const x0 = Math.max(0, Math.floor(toIn(region.x0, map.scaleX, map.offsetX)) - ctx);
  const y0 = Math.max(0, Math.floor(toIn(region.y0, map.scaleY, map.offsetY)) - ctx);
  const x1 = Math.min(input.width, Math.ceil(toIn(region.x1, map.scaleX, map.offsetX)) + ctx);
  const y1 = Math.min(input.height, Math.ceil(toIn(region.y1, map.scaleY, map.offsetY)) + ctx);
  const crop = cropTile(input, x0, y0, x1 - x0, y1 - y0);
  const want = Math.max(map.scaleX, map.scaleY);
  const s = model.scales.find((k) => k >= want) ?? model.scales[model.scales.length - 1]!;
  const runner = await store.open(model.id, s);
  const up = await runTiled(
    crop,
    s,
    (tile) => runner.run(tile),
    { tile: model.tile, pad: model.context, overlap: 8, signal },
    planarSink(crop.width * s, crop.height * s),
  );
  const plane = up.width * up.height;
  return (x, y, _u, _v, out) => {
    const xi = toIn(x, map.scaleX, map.offsetX) - x0;
    const yi = toIn(y, map.scaleY, map.offsetY) - y0;
    bilinear(up, plane, (xi + 0.5) * s - 0.5, (yi + 0.5) * s - 0.5, out);
  };
}

function cropTile(img: Tile, x: number, y: number, w: number, h: number): Tile {
  const data = new Float32Array(3 * w * h);
  const plane = img.width * img.height;
  for (let c = 0; c < 3; c++)
    for (let j = 0; j < h; j++)
      data.set(
        img.data.subarray(c * plane + (y + j) * img.width + x, c * plane + (y + j) * img.width + x + w),
        c * w * h + j * w,
      );
  return { data, width: w, height: h };
}
