/**
 * `.safetensors` reader: an 8-byte little-endian header length, a JSON header mapping each
 * tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the end of
 * the header), then the raw little-endian data. Nothing in it is executable, so reading it is
 * safe by construction; every offset and size is still checked against the file.
 *
 * Written by hand: the format is one JSON header and raw arrays, and the npm readers for it
 * either pull in a tensor runtime or handle F32 only.
 */
import { PixeliftError } from '../../errors.js';
import { decodeHalves } from '../import/half.js';
import type { StateDict, TorchTensor } from './types.js';

/** Headers larger than this are refused (real ones are a few hundred kB at most). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const BYTES_PER: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const NON_WEIGHT_DTYPES = new Set(['I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']);

export function readSafetensors(bytes: Uint8Array, file = 'model.safetensors'): StateDict {
  const unreadable = (message: string) => new PixeliftError('model_unreadable', { file, message });
  if (bytes.byteLength < 8) throw unreadable('the file is shorter than a safetensors header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.byteLength) {
    throw unreadable(`the header claims ${headerLength} bytes, more than the file holds`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw unreadable('the header is not JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw unreadable('the header is not a JSON object');
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const out = new Map<string, TorchTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    // Integer and boolean tensors are bookkeeping (BatchNorm's num_batches_tracked, step
    // counters), never weights a network here multiplies by: left out of the state dict.
    if (typeof e.dtype === 'string' && NON_WEIGHT_DTYPES.has(e.dtype)) continue;
    const size = typeof e.dtype === 'string' ? BYTES_PER[e.dtype] : undefined;
    if (size === undefined) {
      throw unreadable(
        `tensor ${name} has dtype ${String(e.dtype)}; only F32, F16, BF16 and F64 hold weights`,
      );
    }
    if (
      !Array.isArray(e.shape) ||
      !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      !Array.isArray(e.data_offsets) ||
      e.data_offsets.length !== 2 ||
      !e.data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw unreadable(`tensor ${name} has a malformed shape or data_offsets`);
    }
    const shape = e.shape as number[];
    const [begin, end] = e.data_offsets as [number, number];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLength || end - begin !== count * size) {
      throw unreadable(`tensor ${name} (${shape.join('x')} ${e.dtype}) does not fit its data_offsets`);
    }
    out.set(name, { shape, data: decode(bytes, dataStart + begin, count, e.dtype as string) });
  }
  return out;
}

function decode(bytes: Uint8Array, offset: number, count: number, dtype: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * BYTES_PER[dtype]!);
  switch (dtype) {
    case 'F16':
      return decodeHalves(bytes, offset, count);
    case 'BF16': {
      const out = new Float32Array(count);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u32[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    default: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
  }
}
