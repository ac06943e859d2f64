/**
 * The model store: what callers use to find a model (registry.ts), have its ONNX file
 * converted and verified once (conversion-cache.ts), and open sessions on it, shared by
 * callers: whole networks (ModelRunner) and networks cut into segments (SegmentedRunner).
 */
import fs from 'node:fs';
import { type Config, DEFAULTS } from '../config.js';
import { PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import { isClassical, type ModelEntry } from './catalog.js';
import { ConversionCache, type PreparedModel, type Verified } from './conversion-cache.js';
import { GOLDEN_SIZE, GOLDEN_TOLERANCE, goldenInput, maxAbsDiff } from './golden.js';
import type { WeightBits } from './int8-cpu.js';
import type { Int8Auto, RunPrecision } from './precision.js';
import { INT8_AUTO } from './quantize.js';
import { defaultScale, LocalModels, type ResolvedModel } from './registry.js';
import { ModelRunner, SegmentedRunner } from './runner.js';
import { type SegmentPlan, segmentGraph } from './segments.js';
import { createSession, graphFor, resolveDevice, type SessionSettings } from './session.js';
import type { UserModelProblem } from './user-models.js';

export type { PreparedModel } from './conversion-cache.js';
export type { ResolvedModel } from './registry.js';

/**
 * How finely a network is cut (see src/engine/segmented.ts): `coarse` is trunk | tail, for
 * small images; `fine` cuts the trunk into about FINE_SEGMENTS segments (x4plus: every 3 RRDBs,
 * 45 px of halo each), for larger ones: each segment is a point progress is reported at, and
 * tiled images pay only its own halo.
 */
export type SegmentGrain = 'coarse' | 'fine';
export const SEGMENT_GRAINS: readonly SegmentGrain[] = ['coarse', 'fine'];
const FINE_SEGMENTS = 8;

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
  /**
   * Whether `auto` starts quantizing a missing int8 file in the background (worker children:
   * they live on; a CLI run ends with its image, so it only says to run `models prepare`).
   */
  readonly quantizeInBackground?: boolean;
  /** Built-ins and scales `auto` runs in int8 (default INT8_AUTO, src/models/quantize.ts). */
  readonly int8Auto?: Int8Auto;
  /** Weight bits of int8 files (default: this CPU's, src/models/int8-cpu.ts); tests set it. */
  readonly int8WeightBits?: WeightBits;
}

/** What `auto` found for a model's int8 file (ModelStore.autoInt8). */
export type AutoInt8 = 'ready' | 'quantizing' | 'missing' | 'failed';

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

/**
 * A segmented runner held by one run. While any lease on a cut is held the store releases none
 * of its sessions; `release()` (or leaving a `using` block) gives it back.
 */
export interface SegmentedLease extends Disposable {
  readonly runner: SegmentedRunner;
  release(): void;
}

/** A cut of a network opened by the store: `${id}@${scale}:${precision}/${grain}`. */
interface Cut {
  readonly key: string;
  readonly runner: Promise<SegmentedRunner | undefined>;
  /** Leases given out and not yet released, counting callers still waiting for the runner. */
  holds: number;
  /** Replaced by another cut: released once `holds` drops to 0. */
  retired: boolean;
}

export class ModelStore {
  private readonly models: LocalModels;
  private readonly cache: ConversionCache;
  /** Preparations, shared by callers; `session` is the verified CPU session until open() claims it. */
  private readonly prepared = new Map<string, Promise<Verified>>();
  private readonly runners = new Map<string, Promise<ModelRunner>>();
  /** The cut openSegmented() hands out (at most one: see openSegmented). */
  private readonly cuts = new Map<string, Cut>();
  /** Every cut whose sessions are not released yet: the current one and retired ones still held. */
  private readonly live = new Set<Cut>();
  private readonly plans = new Map<string, Promise<SegmentPlan | string>>();
  /** Preparations that resolved (a settled promise cannot be asked). */
  private readonly ready = new Set<string>();
  /** Quantizations `auto` started in the background, by `${id}@${scale}:int8`. */
  private readonly background = new Map<string, Promise<void>>();
  /** int8 files whose quantization failed in this process: `auto` stays fp32 for them. */
  private readonly int8Failed = new Map<string, string>();
  /** autoInt8's look into the cache, shared by concurrent callers. */
  private readonly looks = new Map<string, Promise<AutoInt8>>();
  /** Keys being quantized now, and who waits to hear that it started (see prepare's onQuantize). */
  private readonly quantizing = new Map<string, Set<() => void> | true>();

  constructor(private readonly options: ModelStoreOptions) {
    this.models = new LocalModels({ ...options, onGone: (id) => this.forget(id) });
    this.cache = new ConversionCache({
      ...options,
      sourceFiles: (model, scale) => this.models.sourceFiles(model, scale),
    });
  }

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

  /** Every model: installed built-ins, then user models (rescanned when the models directory changes). */
  list(): readonly ModelEntry[] {
    return this.models.list();
  }

  /** Built-ins whose source package is not installed, with the reason. */
  notInstalled(): ReadonlyMap<string, string> {
    return this.models.notInstalled();
  }

  /** User model files that could not be read, each with its error. */
  userModelProblems(): readonly UserModelProblem[] {
    return this.models.userModelProblems();
  }

  /** Look up a model by id or provider alias. */
  resolve(name?: string): ResolvedModel {
    return this.models.resolve(name);
  }

  get(id: string): ModelEntry {
    return this.models.get(id);
  }

  /** Absolute paths of the files a model at a scale is converted from. */
  sourceFiles(model: ModelEntry, scale: number): string[] {
    return this.models.sourceFiles(model, scale);
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
      this.ready.delete(key);
      p.then((x) => x.session?.release()).catch(() => undefined);
    }
    for (const cut of this.cuts.values()) if (cut.key.startsWith(`${id}@`)) this.retire(cut);
    for (const key of this.plans.keys()) if (key.startsWith(`${id}@`)) this.plans.delete(key);
  }

  /** Built-ins and scales `auto` runs in int8. */
  get int8Auto(): Int8Auto {
    return this.options.int8Auto ?? INT8_AUTO;
  }

  /**
   * Convert (or find in the cache and verify) the ONNX file for `id` at native `scale`, in
   * `precision` (int8: quantized from the fp32 file when it is not cached). Concurrent callers
   * share one conversion. `onQuantize` is called once if this call waits for a quantization
   * (started by it or by an earlier caller), so a job can say why it waits.
   */
  prepare(
    id: string,
    scale?: number,
    precision: RunPrecision = 'fp32',
    onQuantize?: () => void,
  ): Promise<PreparedModel> {
    const p = this.prepared_(id, scale, false, precision);
    if (onQuantize && precision === 'int8') {
      const key = this.keyOf(id, scale, 'int8');
      const q = this.quantizing.get(key);
      if (q === true) onQuantize();
      else if (q) q.add(onQuantize);
      else if (!this.ready.has(key)) {
        this.quantizing.set(key, new Set([onQuantize]));
        p.finally(() => {
          if (this.quantizing.get(key) !== true) this.quantizing.delete(key);
        }).catch(() => undefined);
      }
    }
    return p.then((r) => r.prep);
  }

  /**
   * Whether `auto` can run `id` at `scale` in int8 now, without waiting for a quantization:
   * `ready` when the int8 file is prepared (found in the cache and verified on the first ask).
   * Otherwise it is not made where a request waits: with quantizeInBackground the first ask
   * starts quantizing it in the background, once per process (`quantizing` until it is done);
   * without, `missing` (`pixelift models prepare` makes it). `failed`: it could not be made.
   */
  autoInt8(id: string, scale?: number): Promise<AutoInt8> {
    const model = this.get(id);
    const s = scale ?? defaultScale(model);
    const key = this.keyOf(id, s, 'int8');
    if (this.ready.has(key)) return Promise.resolve('ready');
    if (this.int8Failed.has(key)) return Promise.resolve('failed');
    if (this.prepared.has(key) || this.background.has(key)) return Promise.resolve('quantizing');
    let look = this.looks.get(key);
    if (!look) {
      look = this.lookForInt8(model, s, key).finally(() => this.looks.delete(key));
      this.looks.set(key, look);
    }
    return look;
  }

  private async lookForInt8(model: ModelEntry, scale: number, key: string): Promise<AutoInt8> {
    const fp32 = await this.prepare(model.id, scale);
    const cached = await this.cache.prepareInt8(model, fp32, 'cached');
    if (cached) {
      this.adopt(key, cached); // the session is the caller's, who opens it now
      return 'ready';
    }
    if (!this.options.quantizeInBackground) return 'missing';
    const log = this.options.log;
    log.info({ model: model.id, scale }, 'int8 not prepared: quantizing it in the background');
    const job = this.cache
      .prepareInt8(model, fp32, 'unless-busy', () => this.startedQuantizing(key))
      .then(async (made) => {
        if (!made) return log.info({ model: model.id, scale }, 'another process is quantizing it');
        await made.session?.release();
        this.adopt(key, { prep: made.prep });
      })
      .catch((err: unknown) => {
        this.int8Failed.set(key, (err as Error).message);
        log.warn({ err, model: model.id, scale }, 'background int8 quantization failed; auto stays fp32');
      })
      .finally(() => {
        this.quantizing.delete(key);
        this.background.delete(key);
      });
    this.background.set(key, job);
    return 'quantizing';
  }

  /** A verified preparation made outside prepared_ (autoInt8), shared from now on. */
  private adopt(key: string, verified: Verified): void {
    this.prepared.set(key, Promise.resolve(verified));
    this.ready.add(key);
  }

  private startedQuantizing(key: string): void {
    const waiting = this.quantizing.get(key);
    this.quantizing.set(key, true);
    if (waiting instanceof Set) for (const f of waiting) f();
  }

  private keyOf(id: string, scale: number | undefined, precision: RunPrecision): string {
    return `${id}@${scale ?? defaultScale(this.get(id))}:${precision}`;
  }

  /** The background quantization of `id` at `scale`, if one runs (resolves when it ends, never rejects). */
  backgroundInt8(id: string, scale?: number): Promise<void> | undefined {
    return this.background.get(this.keyOf(id, scale, 'int8'));
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
    precision: RunPrecision,
  ): Promise<Verified> {
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
    const key = `${id}@${s}:${precision}`;
    let p = this.prepared.get(key);
    if (!p) {
      const made =
        precision === 'int8'
          ? this.prepare(id, s)
              .then((fp32) =>
                this.cache.prepareInt8(model, fp32, 'quantize', () => this.startedQuantizing(key)),
              )
              .then((r) => r!) // 'quantize' always makes it
              .finally(() => this.quantizing.delete(key))
          : this.cache.prepare(model, s);
      p = made.then(async (r) => {
        if (keepSession || !r.session) return r;
        await r.session.release();
        return { prep: r.prep };
      });
      this.prepared.set(key, p);
      p.then(
        () => this.ready.add(key),
        () => this.prepared.delete(key),
      );
    }
    return p;
  }

  /** An opened session for `id` at `scale` in `precision`, shared by callers. */
  open(id: string, scale?: number, precision: RunPrecision = 'fp32'): Promise<ModelRunner> {
    const model = this.get(id);
    const s = scale ?? defaultScale(model);
    const key = `${id}@${s}:${precision}`;
    let r = this.runners.get(key);
    if (!r) {
      r = this.prepared_(id, s, true, precision).then(async (prepared) => {
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
   * The network cut into exactly tileable segments (src/models/segments.ts), leased to the
   * caller; undefined when its graph cannot be cut, or when the segments do not reproduce the
   * whole graph's output on the golden input (then the engine tiles the whole network).
   *
   * The memory budget holds per process, not per cut: each segment's session keeps its arena
   * after a run (src/engine/segmented.ts, ARENA), so two cuts kept open side by side (x4fast's
   * coarse and fine, or another model's) would each hold up to a budget's worth. Opening a cut
   * therefore releases every other one the store holds, at once if no run holds a lease on it,
   * else when its last lease is released. Alternating cuts pays a session open each switch
   * (x4fast: ~0.1 s; x4plus: ~1 s for 9 segments and the golden check).
   */
  async openSegmented(
    id: string,
    scale: number,
    grain: SegmentGrain,
    precision: RunPrecision = 'fp32',
  ): Promise<SegmentedLease | undefined> {
    const model = this.get(id);
    const key = `${id}@${scale}:${precision}/${grain}`;
    let cut = this.cuts.get(key);
    if (!cut) {
      for (const other of this.cuts.values()) this.retire(other);
      const made: Cut = {
        key,
        runner: this.openSegmentedUncached(model, scale, grain, precision),
        holds: 0,
        retired: false,
      };
      this.cuts.set(key, made);
      this.live.add(made);
      made.runner.catch(() => {
        if (this.cuts.get(key) === made) this.cuts.delete(key);
        this.live.delete(made);
      });
      cut = made;
    }
    // Counted before the await, so a cut still opening for this caller is never released under it.
    cut.holds++;
    let runner: SegmentedRunner | undefined;
    try {
      runner = await cut.runner;
    } finally {
      if (!runner) this.unhold(cut);
    }
    if (!runner) return undefined;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.unhold(cut);
    };
    return { runner, release, [Symbol.dispose]: release };
  }

  /** The cuts whose sessions are open, and how many leases each has out (for tests and /debug). */
  openCuts(): { readonly cut: string; readonly leases: number }[] {
    return [...this.live].map((c) => ({ cut: c.key, leases: c.holds }));
  }

  private retire(cut: Cut): void {
    if (this.cuts.get(cut.key) === cut) this.cuts.delete(cut.key);
    cut.retired = true;
    if (cut.holds === 0) this.releaseCut(cut);
  }

  private unhold(cut: Cut): void {
    cut.holds--;
    if (cut.retired && cut.holds === 0) this.releaseCut(cut);
  }

  private releaseCut(cut: Cut): Promise<void> {
    if (!this.live.delete(cut)) return Promise.resolve();
    return cut.runner.then((r) => r?.release()).catch(() => undefined);
  }

  /** The segment plans of a network (no sessions): the engine picks a grain from them. */
  async segmentPlans(
    id: string,
    scale: number,
    precision: RunPrecision = 'fp32',
  ): Promise<Record<SegmentGrain, SegmentPlan> | undefined> {
    const plans = await Promise.all(SEGMENT_GRAINS.map((g) => this.segmentPlan(id, scale, g, precision)));
    return plans.every((p) => typeof p !== 'string')
      ? (Object.fromEntries(SEGMENT_GRAINS.map((g, i) => [g, plans[i]])) as Record<SegmentGrain, SegmentPlan>)
      : undefined;
  }

  private segmentPlan(
    id: string,
    scale: number,
    grain: SegmentGrain,
    precision: RunPrecision,
  ): Promise<SegmentPlan | string> {
    const key = `${id}@${scale}:${precision}/${grain}`;
    let p = this.plans.get(key);
    if (!p) {
      p = this.prepare(id, scale, precision).then(async (prep) => {
        // Cut the graph the sessions will run (session.ts graphFor), whose memory the plan estimates.
        const device = await resolveDevice(this.options.session.device, this.options.log);
        const bytes = graphFor(device, fs.readFileSync(prep.onnxPath), this.options.session);
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
    precision: RunPrecision,
  ): Promise<SegmentedRunner | undefined> {
    const whole = await this.open(model.id, scale, precision);
    const plan = await this.segmentPlan(model.id, scale, grain, precision);
    const log = this.options.log;
    if (typeof plan === 'string') {
      log.debug(
        { model: model.id, scale, precision, reason: plan },
        'model not segmented; tiling the whole network',
      );
      return undefined;
    }
    // Coarse: two sessions kept open (its trunk session is slow to open); fine: opened one at a
    // time as the engine reaches each segment (see SessionPolicy).
    const open = async (i: number) =>
      (await createSession(plan.segments[i]!.onnx, this.options.session, log)).session;
    const runner = new SegmentedRunner(
      model,
      scale,
      plan,
      open,
      whole.device,
      grain === 'fine' ? 'one-at-a-time' : 'kept',
    );
    // The cut is checked like a conversion: on the golden input it must give the whole graph's output.
    const golden = { data: goldenInput(), width: GOLDEN_SIZE, height: GOLDEN_SIZE };
    const want = (await whole.run(golden)).data;
    const values = new Map<string, Float32Array>([[plan.input, runner.toNetwork(golden.data)]]);
    try {
      // Every segment's session opens here, so a cut that cannot open fails now, not mid-run.
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
        await runner.finished(i);
      }
    } catch (err) {
      await runner.release();
      throw err;
    }
    const diff = maxAbsDiff(runner.fromNetwork(values.get(plan.output)!.slice()), want);
    if (!(diff <= GOLDEN_TOLERANCE)) {
      log.warn(
        { model: model.id, scale, precision, diff },
        'segmented graph differs from the whole graph; not using it',
      );
      await runner.release();
      return undefined;
    }
    return runner;
  }

  async close(): Promise<void> {
    // A calibration run cannot be interrupted; its sessions are released when it ends.
    await Promise.all(this.background.values());
    const cuts = [...this.live];
    this.cuts.clear();
    this.plans.clear();
    await Promise.all(cuts.map((c) => this.releaseCut(c)));
    const runners = [...this.runners.values()];
    const prepared = [...this.prepared.values()];
    this.runners.clear();
    this.prepared.clear();
    this.ready.clear();
    await Promise.all(runners.map((r) => r.then((x) => x.release()).catch(() => undefined)));
    // Verified sessions that no open() claimed.
    await Promise.all(prepared.map((p) => p.then((x) => x.session?.release()).catch(() => undefined)));
  }
}
