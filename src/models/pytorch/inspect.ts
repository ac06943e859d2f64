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
import { importPytorchOffThread } from './import-thread.js';
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
  /** The name errors show. */
  readonly displayName?: string;
}

export function inspectPytorchFile(file: string, options: InspectOptions = {}): PytorchInspection {
  const hit = remembered(file, options.cacheDir);
  if (hit) return hit;
  const found = inspection(importPytorch(file, { maxBytes: options.maxBytes }));
  remember(file, found, options.cacheDir);
  return found;
}

/**
 * The same, converting in a worker thread (for servers). `rememberAs` records the answer under
 * another path: a file inspected under a temporary name before it is renamed into place
 * (a rename keeps size and mtime).
 */
export async function inspectPytorchFileOffThread(
  file: string,
  options: InspectOptions & { readonly rememberAs?: string } = {},
): Promise<PytorchInspection> {
  const found = inspection(
    await importPytorchOffThread(file, { maxBytes: options.maxBytes, displayName: options.displayName }),
  );
  remember(options.rememberAs ?? file, found, options.cacheDir, file);
  return found;
}

function inspection(r: PytorchImport): PytorchInspection {
  const archName = ARCHITECTURES.find((a) => a.id === r.detection.arch)?.name ?? r.detection.arch;
  return { detection: r.detection, stats: r.stats, format: r.format, archName };
}

function indexKey(file: string, statOf = file): string {
  const st = fs.statSync(statOf);
  return `${path.resolve(file)}|${st.size}|${st.mtimeMs}`;
}

function remembered(file: string, cacheDir: string | undefined): PytorchInspection | undefined {
  if (!cacheDir) return undefined;
  return readIndex(path.join(cacheDir, INDEX_FILE))[indexKey(file)];
}

function remember(file: string, found: PytorchInspection, cacheDir: string | undefined, statOf = file): void {
  if (!cacheDir) return;
  const indexPath = path.join(cacheDir, INDEX_FILE);
  const index = readIndex(indexPath);
  {
    // Drop stale entries for the same path (the file changed).
    const prefix = `${path.resolve(file)}|`;
    for (const k of Object.keys(index)) if (k.startsWith(prefix)) delete index[k];
    index[indexKey(file, statOf)] = found;
    try {
      fs.mkdirSync(path.dirname(indexPath), { recursive: true });
      const tmp = `${indexPath}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(index));
      fs.renameSync(tmp, indexPath);
    } catch {
      // A read-only cache only costs a re-inspection next time.
    }
  }
}

function readIndex(file: string): Record<string, PytorchInspection> {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, PytorchInspection>) : {};
  } catch {
    return {};
  }
}
