/**
 * The conversion cache: a network converted to ONNX once, stored under `modelCacheDir`, and
 * verified every time a process first trusts it.
 *
 * Layout, one set per (model, scale, source hash):
 *   <id>-x<scale>-<hash>.onnx         the converted graph
 *   <id>-x<scale>-<hash>.json         manifest: hashes, stats, versions
 *   <id>-x<scale>-<hash>.golden.f32   the graph's output for the golden input at conversion time
 * The hash covers the converter version and every source byte, so new weights or a new
 * importer produce a new file. The int8 version of a file is a set of its own,
 * `<id>-x<scale>-<hash>.int8.{onnx,json,golden.f32}`, whose hash covers the quantizer version,
 * the weight bits (which follow the CPU: int8-cpu.ts) and the fp32 file's bytes. Before a cached file is trusted its bytes are re-hashed and
 * it is run on the golden input and compared with the stored golden output (golden.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { isPixeliftError, PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ModelEntry } from './catalog.js';
import { checkSane, GOLDEN_TOLERANCE, maxAbsDiff, runGolden } from './golden.js';
import type { ImportResult, ImportStats } from './import/ncnn.js';
import { importNcnn } from './import/ncnn.js';
import { importTfjsDir } from './import/tfjs.js';
import { INT8_WEIGHT_BITS, type WeightBits } from './int8-cpu.js';
import type { RunPrecision } from './precision.js';
import { importPytorchOffThread } from './pytorch/import-thread.js';
import { QUANTIZER_VERSION, quantizeInt8 } from './quantize.js';
import { createSession, type SessionSettings } from './session.js';

/** Bump when an importer's output for the same source changes; it invalidates the cache. */
export const CONVERTER_VERSION = '1';

/** How prepareInt8 treats an int8 file that is not cached (see there). */
export type Int8Mode = 'quantize' | 'cached' | 'unless-busy';

/** How often a process waiting for another one's quantization looks again, ms. */
const LOCK_POLL_MS = 1000;
/** A lock older than this is a crashed quantizer's, ms (x4plus took 674 s on a loaded machine). */
const LOCK_STALE_MS = 60 * 60 * 1000;

export interface PreparedModel {
  readonly id: string;
  readonly scale: number;
  readonly precision: RunPrecision;
  /** Path of the ONNX file sessions open. */
  readonly onnxPath: string;
  readonly stats: ImportStats | undefined;
  /** True when this call converted it (false: a verified cache hit). */
  readonly converted: boolean;
}

/** A prepared model and the CPU session its golden check ran on (the caller releases it). */
export interface Verified {
  readonly prep: PreparedModel;
  session?: ort.InferenceSession;
}

/** What a cached file was made from (fp32: sourceHash + converter; int8: fp32Sha256 + quantizer + weightBits). */
interface CacheManifest {
  id: string;
  scale: number;
  precision: RunPrecision;
  sourceHash?: string;
  converter?: string;
  fp32Sha256?: string;
  quantizer?: string;
  weightBits?: WeightBits;
  onnxSha256: string;
  stats: ImportStats | undefined;
  onnxruntime: string;
  createdAt: string;
}

export interface ConversionCacheOptions {
  readonly modelCacheDir: string;
  readonly session: SessionSettings;
  readonly log: Logger;
  /** Largest PyTorch/safetensors file read (PIXELIFT_MAX_MODEL_BYTES); default: no limit. */
  readonly maxModelBytes?: number;
  /** Absolute paths of the files a model at a scale is converted from (registry.ts). */
  readonly sourceFiles: (model: ModelEntry, scale: number) => string[];
  /** Weight bits of the int8 files made and used (default: this CPU's, int8-cpu.ts). */
  readonly int8WeightBits?: WeightBits;
}

export class ConversionCache {
  constructor(private readonly options: ConversionCacheOptions) {}

  /** A CPU session with this cache's settings: what golden checks run on and runners reuse. */
  async cpuSession(onnx: Uint8Array): Promise<ort.InferenceSession> {
    return (await createSession(onnx, { ...this.options.session, device: 'cpu' }, this.options.log)).session;
  }

  /** The verified fp32 ONNX file of `model` at native `scale`: from the cache, or converted now. */
  async prepare(model: ModelEntry, scale: number): Promise<Verified> {
    if (model.source.format === 'onnx') {
      // A user's ONNX file is used as it is; opening it is its verification.
      const onnxPath = model.source.files[scale]!;
      return {
        prep: { id: model.id, scale, precision: 'fp32', onnxPath, stats: undefined, converted: false },
      };
    }
    const files = this.options.sourceFiles(model, scale);
    const sourceHash = hashFiles(files);
    const base = path.join(this.options.modelCacheDir, `${model.id}-x${scale}-${sourceHash.slice(0, 16)}`);
    const cached = await this.verifyCached(
      model,
      scale,
      base,
      { sourceHash, converter: CONVERTER_VERSION },
      'fp32',
    );
    if (cached) return cached;

    const t0 = performance.now();
    const result = await this.convert(model, scale);
    if (result.stats.scale !== scale) {
      throw new PixeliftError('model_verification_failed', {
        model: model.id,
        message: `the converted network scales by ${result.stats.scale}, the catalog says ${scale}`,
      });
    }
    const { session, golden } = await this.checkedSession(model, scale, result.onnx);
    this.store(base, result.onnx, golden, {
      id: model.id,
      scale,
      precision: 'fp32',
      sourceHash,
      onnxSha256: sha256(result.onnx),
      stats: result.stats,
      converter: CONVERTER_VERSION,
      onnxruntime: ort.env.versions.common,
      createdAt: new Date().toISOString(),
    });
    this.options.log.info(
      { model: model.id, scale, ms: Math.round(performance.now() - t0), params: result.stats.params },
      'converted model to ONNX',
    );
    return {
      prep: {
        id: model.id,
        scale,
        precision: 'fp32',
        onnxPath: `${base}.onnx`,
        stats: result.stats,
        converted: true,
      },
      session,
    };
  }

  /**
   * The verified int8 version of a prepared fp32 file: from the cache, or quantized now
   * (quantize.ts). Its key covers QUANTIZER_VERSION, the weight bits and the fp32 file's hash,
   * so a new conversion, a new quantizer or a CPU of the other kind makes a new file; it is checked against its own golden output.
   *
   * `mode`: `quantize` makes it when it is not cached (waiting for another process that holds
   * the file's lock, then using its result); `cached` never quantizes; `unless-busy` quantizes
   * unless another process is at it. Both answer undefined when they do not make it.
   * `onQuantize` is called just before this call starts quantizing.
   */
  async prepareInt8(
    model: ModelEntry,
    fp32: PreparedModel,
    mode: Int8Mode = 'quantize',
    onQuantize?: () => void,
  ): Promise<Verified | undefined> {
    const scale = fp32.scale;
    const fp32Bytes = fs.readFileSync(fp32.onnxPath);
    const fp32Sha256 = sha256(fp32Bytes);
    const weightBits = this.options.int8WeightBits ?? INT8_WEIGHT_BITS;
    const key = sha256(Buffer.from(`pixelift-int8-${QUANTIZER_VERSION}-w${weightBits}\0${fp32Sha256}`));
    const base = path.join(this.options.modelCacheDir, `${model.id}-x${scale}-${key.slice(0, 16)}.int8`);
    const expect = { fp32Sha256, quantizer: QUANTIZER_VERSION, weightBits };
    const cached = () => this.verifyCached(model, scale, base, expect, 'int8');
    for (;;) {
      const hit = await cached();
      if (hit || mode === 'cached') return hit;
      const unlock = takeLock(`${base}.lock`);
      if (unlock) {
        try {
          // Another process may have finished between our look and our lock.
          return (await cached()) ?? (await this.quantize(model, fp32, fp32Bytes, base, expect, onQuantize));
        } finally {
          unlock();
        }
      }
      if (mode === 'unless-busy') return undefined;
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
  }

  private async quantize(
    model: ModelEntry,
    fp32: PreparedModel,
    fp32Bytes: Uint8Array,
    base: string,
    expect: { fp32Sha256: string; quantizer: string; weightBits: WeightBits },
    onQuantize?: () => void,
  ): Promise<Verified> {
    const scale = fp32.scale;
    onQuantize?.();
    this.options.log.info({ model: model.id, scale }, 'quantizing model to int8');
    const t0 = performance.now();
    let onnx: Uint8Array;
    try {
      onnx = await quantizeInt8(fp32Bytes, model, expect.weightBits);
    } catch (err) {
      if (isPixeliftError(err)) throw err;
      throw new PixeliftError(
        'model_verification_failed',
        { model: model.id, message: `int8 quantization failed: ${(err as Error).message}` },
        { cause: err },
      );
    }
    const session = await this.checkedSession(model, scale, onnx);
    this.store(base, onnx, session.golden, {
      id: model.id,
      scale,
      precision: 'int8',
      ...expect,
      onnxSha256: sha256(onnx),
      stats: fp32.stats,
      onnxruntime: ort.env.versions.common,
      createdAt: new Date().toISOString(),
    });
    this.options.log.info(
      { model: model.id, scale, ms: Math.round(performance.now() - t0) },
      'quantized model to int8',
    );
    return {
      prep: {
        id: model.id,
        scale,
        precision: 'int8',
        onnxPath: `${base}.onnx`,
        stats: fp32.stats,
        converted: true,
      },
      session: session.session,
    };
  }

  /** A CPU session on fresh `onnx` whose golden output is sane (the caller stores that output). */
  private async checkedSession(
    model: ModelEntry,
    scale: number,
    onnx: Uint8Array,
  ): Promise<{ session: ort.InferenceSession; golden: Float32Array }> {
    const session = await this.cpuSession(onnx);
    try {
      const golden = await runGolden(session, scale, model.inputRange);
      checkSane(model.id, golden, model.kind !== 'face');
      return { session, golden };
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Graph, golden output and manifest, each written whole (a crash leaves no half file). */
  private store(base: string, onnx: Uint8Array, golden: Float32Array, manifest: CacheManifest): void {
    fs.mkdirSync(this.options.modelCacheDir, { recursive: true });
    writeAtomic(`${base}.onnx`, onnx);
    writeAtomic(`${base}.golden.f32`, new Uint8Array(golden.buffer, golden.byteOffset, golden.byteLength));
    writeAtomic(`${base}.json`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  }

  /**
   * The cached file if its manifest names what it was made from (`expect`), its bytes hash to
   * what the manifest says and it reproduces its golden output; otherwise undefined.
   */
  private async verifyCached(
    model: ModelEntry,
    scale: number,
    base: string,
    expect: Readonly<Partial<Record<keyof CacheManifest, string | number>>>,
    precision: RunPrecision,
  ): Promise<Verified | undefined> {
    let manifest: CacheManifest;
    let onnx: Buffer;
    let golden: Float32Array;
    try {
      manifest = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as CacheManifest;
      onnx = fs.readFileSync(`${base}.onnx`);
      golden = readF32(`${base}.golden.f32`);
    } catch {
      return undefined; // not cached (or partly): convert
    }
    const reject = (why: string) => {
      this.options.log.warn(
        { model: model.id, scale, precision, file: `${base}.onnx` },
        `cached model not trusted: ${why}`,
      );
      return undefined;
    };
    for (const [k, v] of Object.entries(expect)) {
      if (manifest[k as keyof CacheManifest] !== v) return reject('manifest does not match the sources');
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
      prep: {
        id: model.id,
        scale,
        precision,
        onnxPath: `${base}.onnx`,
        stats: manifest.stats,
        converted: false,
      },
      session,
    };
  }

  private async convert(model: ModelEntry, scale: number): Promise<ImportResult> {
    const src = model.source;
    try {
      if (src.format === 'ncnn' || src.format === 'ncnn-file') {
        const [param, bin] = this.options.sourceFiles(model, scale) as [string, string];
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
        const dir = path.dirname(this.options.sourceFiles(model, scale)[0]!);
        return await importTfjsDir(dir, { graphName: model.id });
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
}

function readF32(file: string): Float32Array {
  const g = fs.readFileSync(file);
  return new Float32Array(g.buffer.slice(g.byteOffset, g.byteOffset + g.byteLength));
}

function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256').update(`pixelift-converter-${CONVERTER_VERSION}\0`);
  for (const f of files) h.update(path.basename(f)).update('\0').update(fs.readFileSync(f));
  return h.digest('hex');
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * An exclusive lock file holding our pid, so that processes sharing a cache (worker children)
 * quantize a model once; the returned function removes it. Undefined when a live process holds
 * it; a lock whose process is gone (or that is older than LOCK_STALE_MS) is taken over.
 */
function takeLock(file: string): (() => void) | undefined {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lockHeld(file)) return undefined;
    fs.rmSync(file, { force: true });
  }
  return undefined;
}

function lockHeld(file: string): boolean {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    if (Date.now() - fs.statSync(file).mtimeMs > LOCK_STALE_MS) return false;
    if (!(pid > 0)) return true; // being written this instant
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but is not ours to signal; ENOENT: released meanwhile (look again).
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EPERM' || code === 'ENOENT';
  }
}

function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}
