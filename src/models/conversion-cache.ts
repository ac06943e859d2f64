/**
 * The conversion cache: a network converted to ONNX once, stored under `modelCacheDir`, and
 * verified every time a process first trusts it.
 *
 * Layout, one set per (model, scale, source hash):
 *   <id>-x<scale>-<hash>.onnx         the converted graph
 *   <id>-x<scale>-<hash>.json         manifest: hashes, stats, versions
 *   <id>-x<scale>-<hash>.golden.f32   the graph's output for the golden input at conversion time
 * The hash covers the converter version and every source byte, so new weights or a new
 * importer produce a new file. Before a cached file is trusted its bytes are re-hashed and
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
import { importPytorchOffThread } from './pytorch/import-thread.js';
import { createSession, type SessionSettings } from './session.js';

/** Bump when an importer's output for the same source changes; it invalidates the cache. */
export const CONVERTER_VERSION = '1';

export interface PreparedModel {
  readonly id: string;
  readonly scale: number;
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

export interface ConversionCacheOptions {
  readonly modelCacheDir: string;
  readonly session: SessionSettings;
  readonly log: Logger;
  /** Largest PyTorch/safetensors file read (PIXELIFT_MAX_MODEL_BYTES); default: no limit. */
  readonly maxModelBytes?: number;
  /** Absolute paths of the files a model at a scale is converted from (registry.ts). */
  readonly sourceFiles: (model: ModelEntry, scale: number) => string[];
}

export class ConversionCache {
  constructor(private readonly options: ConversionCacheOptions) {}

  /** A CPU session with this cache's settings: what golden checks run on and runners reuse. */
  async cpuSession(onnx: Uint8Array): Promise<ort.InferenceSession> {
    return (await createSession(onnx, { ...this.options.session, device: 'cpu' }, this.options.log)).session;
  }

  /** The verified fp32 ONNX file of `model` at native `scale`: from the cache, or converted now. */
  async prepare(model: ModelEntry, scale: number): Promise<Verified> {
    const log = this.options.log;
    if (model.source.format === 'onnx') {
      // A user's ONNX file is used as it is; opening it is its verification.
      const onnxPath = model.source.files[scale]!;
      return { prep: { id: model.id, scale, onnxPath, stats: undefined, converted: false } };
    }
    const files = this.options.sourceFiles(model, scale);
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

function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}
