/**
 * PyTorch checkpoint readers, both formats `torch.save` has written:
 *
 * - zip (torch ≥ 1.6): `<root>/data.pkl` is the pickled object; each tensor storage is the
 *   stored entry `<root>/data/<key>`, named by the persistent id
 *   `('storage', torch.FloatStorage, key, location, numel)`. The zip is read with fflate.
 * - legacy (before 1.6, still common among ESRGAN-era models): five pickles in a row — the
 *   magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys_info dict, the object
 *   (storages as persistent ids `('storage', type, key, location, numel, view_metadata)`), and
 *   the sorted list of storage keys — then for each key an int64 element count and its raw
 *   little-endian bytes.
 *
 * Pickles go through the restricted reader in pickle.ts; nothing in the file is executed.
 */
import { unzipSync } from 'fflate';
import { PixeliftError } from '../../errors.js';
import { decodeHalves } from '../import/half.js';
import {
  DTYPE_BYTES,
  PickleError,
  PyGlobal,
  STORAGE_TYPES,
  type StorageDtype,
  safeGlobals,
  TENSOR_BRAND,
  unpickle,
} from './pickle.js';
import type { TorchTensor } from './types.js';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** A storage the pickle refers to; decoded to float32 once, when a tensor first needs it. */
interface Storage {
  readonly dtype: StorageDtype;
  readonly key: string;
  /** Raw bytes, or undefined until the legacy reader reaches them. */
  bytes?: Uint8Array;
  numel: number;
  decoded?: Float32Array;
}

/** A tensor as the pickle describes it: a strided view of a storage. */
export interface TensorRef {
  readonly [TENSOR_BRAND]: true;
  readonly storage: Storage;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

export function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && TENSOR_BRAND in v;
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** A legacy checkpoint starts with a protocol-2 pickle of the magic number (a LONG1). */
export function isLegacyCheckpoint(bytes: Uint8Array): boolean {
  return bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a;
}

/**
 * Read a checkpoint's pickled object with tensors resolved to `TorchTensor`s (float32),
 * shared storages decoded once.
 */
export function readCheckpoint(bytes: Uint8Array, file: string): unknown {
  try {
    return isZip(bytes) ? readZip(bytes, file) : readLegacy(bytes, file);
  } catch (err) {
    if (err instanceof PixeliftError) throw err;
    throw new PixeliftError('model_unreadable', { file, message: (err as Error).message }, { cause: err });
  }
}

function torchGlobals() {
  return safeGlobals({
    rebuildTensor(args) {
      const [storage, offset, size, stride] = args;
      if (
        !isStorage(storage) ||
        typeof offset !== 'number' ||
        !isIntList(size) ||
        !(isIntList(stride) || (stride === undefined && size.length <= 1))
      ) {
        throw new PickleError('a tensor rebuild with malformed arguments');
      }
      const ref: TensorRef = {
        [TENSOR_BRAND]: true,
        storage,
        offset,
        shape: size,
        stride: stride ?? contiguousStride(size),
      };
      return ref;
    },
  });
}

function storageFromPid(pid: unknown, storages: Map<string, Storage>): Storage {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    throw new PickleError(`unexpected persistent id ${JSON.stringify(String(pid)).slice(0, 80)}`);
  }
  const [, type, key, , numel, view] = pid as [string, unknown, unknown, unknown, unknown, unknown];
  if (view !== undefined && view !== null) {
    throw new PickleError('storage views (torch < 0.4 checkpoints) are not supported; re-save the file');
  }
  if (!(type instanceof PyGlobal) || typeof key !== 'string' || typeof numel !== 'number') {
    throw new PickleError('a malformed storage persistent id');
  }
  const dtype = STORAGE_TYPES.get(type.name);
  if (!dtype || type.module !== 'torch') {
    throw new PickleError(`storage type ${type.qualified} holds no weights Pixelift reads`);
  }
  let s = storages.get(key);
  if (!s) {
    s = { dtype, key, numel };
    storages.set(key, s);
  }
  return s;
}

function readZip(bytes: Uint8Array, file: string): unknown {
  let entries: Record<string, Uint8Array>;
  // torch writes every entry stored (uncompressed); a deflated entry may only expand so far,
  // or a small file could claim gigabytes (a zip bomb). Checked from the directory, before inflating.
  let expanded = 0;
  const budget = 2 * bytes.byteLength + 1024 * 1024;
  const filter = (f: { name: string; size: number; originalSize: number }) => {
    expanded += f.originalSize;
    if (expanded > budget) {
      throw new PickleError(
        `the archive expands to more than ${budget} bytes (entry ${f.name}): not a checkpoint`,
      );
    }
    return true;
  };
  try {
    entries = unzipSync(bytes, { filter });
  } catch (err) {
    if (err instanceof PickleError) throw err;
    throw new PickleError(`not a readable zip archive (${(err as Error).message})`);
  }
  const pkl = Object.keys(entries).find((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (!pkl) throw new PickleError('the zip archive has no data.pkl: not a PyTorch checkpoint');
  const root = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries[`${root}byteorder`];
  if (byteorder && new TextDecoder().decode(byteorder).trim() === 'big') {
    throw new PickleError('big-endian checkpoints are not supported');
  }
  const storages = new Map<string, Storage>();
  const { value } = unpickle(entries[pkl]!, {
    file,
    globals: torchGlobals(),
    persistentLoad: (pid) => {
      const s = storageFromPid(pid, storages);
      if (!s.bytes) {
        const data = entries[`${root}data/${s.key}`];
        if (!data) throw new PickleError(`storage ${s.key} is missing from the archive`);
        s.bytes = data;
        s.numel = data.byteLength / DTYPE_BYTES[s.dtype];
      }
      return s;
    },
  });
  return resolveTensors(value);
}

function readLegacy(bytes: Uint8Array, file: string): unknown {
  if (!isLegacyCheckpoint(bytes)) {
    throw new PickleError('neither a PyTorch zip checkpoint nor a legacy one (no magic number)');
  }
  const globals = torchGlobals();
  const plain = { file, globals };
  const magic = unpickle(bytes, plain, 0);
  if (magic.value !== LEGACY_MAGIC) throw new PickleError('wrong magic number for a legacy checkpoint');
  const protocol = unpickle(bytes, plain, magic.end);
  if (protocol.value !== LEGACY_PROTOCOL) {
    throw new PickleError(`legacy protocol ${String(protocol.value)}; expected ${LEGACY_PROTOCOL}`);
  }
  const sysInfo = unpickle(bytes, plain, protocol.end);
  const storages = new Map<string, Storage>();
  const obj = unpickle(
    bytes,
    { file, globals, persistentLoad: (pid) => storageFromPid(pid, storages) },
    sysInfo.end,
  );
  const keys = unpickle(bytes, plain, obj.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new PickleError('the storage key list is malformed');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    if (pos + 8 > bytes.byteLength) throw new PickleError(`the file ends before storage ${key}`);
    const numel = Number(view.getBigInt64(pos, true));
    pos += 8;
    const s = storages.get(key);
    if (!s) throw new PickleError(`storage ${key} is listed but no tensor uses it`);
    const size = numel * DTYPE_BYTES[s.dtype];
    if (numel < 0 || pos + size > bytes.byteLength) {
      throw new PickleError(`the file ends inside storage ${key} (${numel} elements)`);
    }
    s.bytes = bytes.subarray(pos, pos + size);
    s.numel = numel;
    pos += size;
  }
  return resolveTensors(obj.value);
}

/** Replace every TensorRef in the object tree by a materialised TorchTensor. */
function resolveTensors(value: unknown, seen = new Map<unknown, unknown>()): unknown {
  if (isTensorRef(value)) {
    let t = seen.get(value);
    if (!t) {
      t = materialise(value);
      seen.set(value, t);
    }
    return t;
  }
  // A pickle can make a container hold itself (memo); each container is walked once.
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    seen.set(value, value);
    for (let i = 0; i < value.length; i++) value[i] = resolveTensors(value[i], seen);
    return value;
  }
  if (typeof value === 'object' && value !== null && 'map' in value && value.map instanceof Map) {
    seen.set(value, value);
    for (const [k, v] of value.map) value.map.set(k, resolveTensors(v, seen));
  }
  return value;
}

function materialise(ref: TensorRef): TorchTensor {
  const s = ref.storage;
  if (!s.bytes) throw new PickleError(`storage ${s.key} has no data`);
  s.decoded ??= decodeStorage(s.bytes, s.dtype, s.numel);
  const count = ref.shape.reduce((a, b) => a * b, 1);
  const src = s.decoded;
  // The furthest element the view reads must lie inside the storage.
  const last = ref.offset + ref.shape.reduce((acc, d, i) => acc + (d > 0 ? (d - 1) * ref.stride[i]! : 0), 0);
  // A view reads inside its storage and, in a state dict, never repeats elements (no
  // zero strides): both bound what a crafted file can make Pixelift allocate.
  if (count > 0 && (ref.offset < 0 || last >= src.length || count > src.length)) {
    throw new PickleError(`a tensor ${ref.shape.join('x')} reads past its storage ${s.key}`);
  }
  const contiguous = contiguousStride(ref.shape).every((st, i) => ref.shape[i] === 1 || st === ref.stride[i]);
  if (contiguous) return { shape: ref.shape, data: src.slice(ref.offset, ref.offset + count) };
  const out = new Float32Array(count);
  const idx = new Array<number>(ref.shape.length).fill(0);
  for (let n = 0; n < count; n++) {
    let o = ref.offset;
    for (let d = 0; d < idx.length; d++) o += idx[d]! * ref.stride[d]!;
    out[n] = src[o]!;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < ref.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { shape: ref.shape, data: out };
}

function decodeStorage(bytes: Uint8Array, dtype: StorageDtype, numel: number): Float32Array {
  const need = numel * DTYPE_BYTES[dtype];
  if (bytes.byteLength < need)
    throw new PickleError(`a storage holds ${bytes.byteLength} bytes, needs ${need}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, need);
  const out = new Float32Array(numel);
  switch (dtype) {
    case 'f32':
      for (let i = 0; i < numel; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case 'f16':
      return decodeHalves(bytes, 0, numel);
    case 'bf16': {
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) u32[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'f64':
      for (let i = 0; i < numel; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    case 'i64':
      for (let i = 0; i < numel; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      return out;
    case 'i32':
      for (let i = 0; i < numel; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    case 'i16':
      for (let i = 0; i < numel; i++) out[i] = view.getInt16(2 * i, true);
      return out;
    case 'i8':
      for (let i = 0; i < numel; i++) out[i] = view.getInt8(i);
      return out;
    default:
      for (let i = 0; i < numel; i++) out[i] = view.getUint8(i);
      return out;
  }
}

function isStorage(v: unknown): v is Storage {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'key' in v && 'numel' in v;
}

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= 0);
}

function contiguousStride(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i]!;
  }
  return out;
}
