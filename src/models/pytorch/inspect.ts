/**
 * What a user's PyTorch/safetensors file is (architecture, scale, parameters, FLOPs per pixel),
 * for the catalog listing. Recognising a file means reading and converting it (a 67 MB ESRGAN:
 * about a second), so the answer is remembered in `<cacheDir>/pytorch-inspect.json`, keyed by
 * the file's path, size and modification time; a changed file is inspected again.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ImportStats } from '../import/ncnn.js';
import { ARCHITECTURES } from './arch/index.js';
import { importPytorch, type PytorchImport } from './import.js';
import type { ArchDetection } from './types.js';

export interface PytorchInspection {
  readonly detection: ArchDetection;
  readonly stats: ImportStats;
  readonly format: PytorchImport['format'];
  /** Display name of the architecture. */
  readonly archName: string;
}

const INDEX_FILE = 'pytorch-inspect.json';

export interface InspectOptions {
  /** Where the index is kept; without it nothing is remembered. */
  readonly cacheDir?: string;
  readonly maxBytes?: number;
}

export function inspectPytorchFile(file: string, options: InspectOptions = {}): PytorchInspection {
  const st = fs.statSync(file);
  const key = `${path.resolve(file)}|${st.size}|${st.mtimeMs}`;
  const indexPath = options.cacheDir ? path.join(options.cacheDir, INDEX_FILE) : undefined;
  const index = indexPath ? readIndex(indexPath) : {};
  const hit = index[key];
  if (hit) return hit;
  const r = importPytorch(file, { maxBytes: options.maxBytes });
  const archName = ARCHITECTURES.find((a) => a.id === r.detection.arch)?.name ?? r.detection.arch;
  const found: PytorchInspection = { detection: r.detection, stats: r.stats, format: r.format, archName };
  if (indexPath) {
    // Drop stale entries for the same path (the file changed).
    const prefix = `${path.resolve(file)}|`;
    for (const k of Object.keys(index)) if (k.startsWith(prefix)) delete index[k];
    index[key] = found;
    try {
      fs.mkdirSync(path.dirname(indexPath), { recursive: true });
      const tmp = `${indexPath}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(index));
      fs.renameSync(tmp, indexPath);
    } catch {
      // A read-only cache only costs a re-inspection next time.
    }
  }
  return found;
}

function readIndex(file: string): Record<string, PytorchInspection> {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, PytorchInspection>) : {};
  } catch {
    return {};
  }
}
