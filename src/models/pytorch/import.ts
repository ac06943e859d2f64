/**
 * The PyTorch importer's entry point: a `.pth`/`.pt`/`.ckpt`/`.safetensors` file → state dict
 * (read without executing anything) → the first architecture in ARCHITECTURES that recognises
 * it → an ONNX graph with its stats.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PixeliftError } from '../../errors.js';
import type { ImportResult } from '../import/ncnn.js';
import { ARCHITECTURES } from './arch/index.js';
import { isLegacyCheckpoint, isZip, readCheckpoint } from './checkpoint.js';
import { PyDict } from './pickle.js';
import { readSafetensors } from './safetensors.js';
import type { ArchDetection, StateDict, TorchTensor } from './types.js';

/** File extensions the importer takes (the content decides the format, not the name). */
export const PYTORCH_EXTENSIONS = ['.pth', '.pt', '.ckpt', '.safetensors'] as const;

/**
 * Where training frameworks nest the weights, in order of preference: EMA weights first (BasicSR
 * and Real-ESRGAN release `params_ema`, the better of the two), then the plain ones.
 */
export const WRAPPER_KEYS = [
  'params_ema',
  'params',
  'state_dict',
  'model_state_dict',
  'model',
  'net_g_ema',
  'net_g',
  'netG',
  'generator',
  'network',
  'net',
  'module',
] as const;

/** Keys shown in `model_arch_unknown` details. */
const SHOWN_KEYS = 8;

export interface PytorchImport extends ImportResult {
  readonly detection: ArchDetection;
  readonly format: 'safetensors' | 'pytorch-zip' | 'pytorch-legacy';
}

export interface ImportPytorchOptions {
  /** Refuse files larger than this before reading them (PIXELIFT_MAX_MODEL_BYTES). */
  readonly maxBytes?: number;
  /** The name errors show (default: the file's own name; an upload's temporary one is not it). */
  readonly displayName?: string;
}

/** Read, recognise and convert a PyTorch or safetensors model file. */
export function importPytorch(file: string, options: ImportPytorchOptions = {}): PytorchImport {
  const { sd, format } = readStateDictFile(file, options);
  const detection = detectArchitecture(sd, options.displayName ?? path.basename(file));
  const arch = ARCHITECTURES.find((a) => a.id === detection.arch)!;
  return { ...arch.build(sd, detection), detection, format };
}

/** The state dict in a file, unwrapped; checks the size limit before reading a byte. */
export function readStateDictFile(
  file: string,
  options: ImportPytorchOptions = {},
): { sd: StateDict; format: PytorchImport['format'] } {
  const name = options.displayName ?? path.basename(file);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    throw new PixeliftError('model_unreadable', { file: name, message: (err as Error).message });
  }
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    throw new PixeliftError('model_too_large', { file: name, bytes: size, limit: options.maxBytes });
  }
  const bytes = fs.readFileSync(file);
  return readStateDict(bytes, name);
}

/** The state dict in a file's bytes, whatever the format (decided by content). */
export function readStateDict(
  bytes: Uint8Array,
  file: string,
): { sd: StateDict; format: PytorchImport['format'] } {
  if (isZip(bytes) || isLegacyCheckpoint(bytes)) {
    const format = isZip(bytes) ? 'pytorch-zip' : 'pytorch-legacy';
    return { sd: unwrapStateDict(readCheckpoint(bytes, file), file), format };
  }
  if (bytes.byteLength >= 9 && bytes[8] === 0x7b /* '{' */) {
    return { sd: unwrapStateDict(readSafetensors(bytes, file), file), format: 'safetensors' };
  }
  throw new PixeliftError('model_unreadable', {
    file,
    message: 'neither a PyTorch checkpoint (zip or legacy) nor a safetensors file',
  });
}

/** The recognised architecture, or `model_arch_unknown` with the first keys. */
export function detectArchitecture(sd: StateDict, file: string): ArchDetection {
  for (const arch of ARCHITECTURES) {
    const d = arch.detect(sd);
    if (d) return d;
  }
  const keys = [...sd.keys()].slice(0, SHOWN_KEYS);
  throw new PixeliftError('model_arch_unknown', {
    file,
    keys: keys.join(', '),
    firstKeys: keys,
    tensors: sd.size,
  });
}

/**
 * Find the state dict inside whatever was saved: the dict itself, or one nested under a
 * wrapper key (`params_ema` preferred). Strips DataParallel's `module.` prefix.
 */
export function unwrapStateDict(obj: unknown, file: string): StateDict {
  const found = findStateDict(obj, 0);
  if (!found || found.size === 0) {
    throw new PixeliftError('model_unreadable', { file, message: 'the file holds no weight tensors' });
  }
  const allModule = [...found.keys()].every((k) => k.startsWith('module.'));
  if (!allModule) return found;
  return new Map([...found].map(([k, v]) => [k.slice('module.'.length), v]));
}

function asMap(obj: unknown): ReadonlyMap<unknown, unknown> | undefined {
  if (obj instanceof PyDict) return obj.map;
  if (obj instanceof Map) return obj;
  return undefined;
}

function isTensor(v: unknown): v is TorchTensor {
  return typeof v === 'object' && v !== null && 'data' in v && v.data instanceof Float32Array && 'shape' in v;
}

function findStateDict(obj: unknown, depth: number): Map<string, TorchTensor> | undefined {
  const map = asMap(obj);
  if (!map || depth > 4) return undefined;
  for (const key of WRAPPER_KEYS) {
    const nested = findStateDict(map.get(key), depth + 1);
    if (nested && nested.size > 0) return nested;
  }
  const tensors = new Map<string, TorchTensor>();
  for (const [k, v] of map) if (typeof k === 'string' && isTensor(v)) tensors.set(k, v);
  if (tensors.size > 0) return tensors;
  // A single unnamed nesting level (e.g. {"g_ema": {...}, "epoch": 10}).
  for (const v of map.values()) {
    const nested = findStateDict(v, depth + 1);
    if (nested && nested.size > 0) return nested;
  }
  return undefined;
}
