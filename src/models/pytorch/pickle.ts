/**
 * A restricted pickle reader for PyTorch checkpoints. It interprets the pickle opcodes itself and
 * never runs anything: a pickle's GLOBAL can only name an entry of `SAFE_GLOBALS`, each of which
 * is a pure function written here that builds plain data (a dict, a tensor description, an opaque
 * record). Any other global — `os.system`, `builtins.eval`, `subprocess.Popen`, … — is refused
 * with `model_unsafe` at the opcode that names it, before anything could be called. Python's own
 * `pickle.Unpickler.find_class` override is the same idea; here nothing can be called at all.
 *
 * Written by hand: the npm pickle readers (jpickle, pickleparser) either resolve globals to
 * arbitrary constructors or do not cover protocol 4/5 and persistent ids; a state dict needs
 * ~50 opcodes and the whitelist is the point.
 */
import { PixeliftError } from '../../errors.js';

/** A Python dict (also OrderedDict); insertion-ordered. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
}

/** A global the pickle named: a whitelisted type or function, kept as a marker. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object of a whitelisted class whose contents Pixelift does not need (training metadata). */
export class PyOpaque {
  state: unknown;
  constructor(
    readonly type: string,
    readonly args: readonly unknown[],
  ) {}
}

/** Ask a reader for a persistent id's object (torch: a storage). */
export type PersistentLoad = (pid: unknown) => unknown;

/** Calls a whitelisted global makes; `args` is the pickled argument tuple. */
export type GlobalCall = (args: unknown[]) => unknown;

/**
 * Everything a state-dict pickle may name, from real checkpoints (torch 0.4–2.x, BasicSR,
 * Real-ESRGAN, ESRGAN, chaiNNer exports). The value says what naming it may do: `call` to be
 * called (REDUCE/NEWOBJ) with a pure builder, `type` to be passed around as a marker only.
 */
export interface SafeGlobal {
  readonly call?: GlobalCall;
  /** A marker (storage types, dtypes) or a class only ever constructed opaquely. */
  readonly marker?: true;
}

function opaque(type: string): SafeGlobal {
  return { call: (args) => new PyOpaque(type, args) };
}

/** Builders the checkpoint reader supplies (tensor rebuilds need its storages). */
export interface TorchBuilders {
  rebuildTensor(args: unknown[], v2: boolean): unknown;
}

export function safeGlobals(torch: TorchBuilders): ReadonlyMap<string, SafeGlobal> {
  const g = new Map<string, SafeGlobal>();
  // Containers.
  g.set('collections.OrderedDict', { call: () => new PyDict() });
  g.set('builtins.set', { call: (a) => (Array.isArray(a[0]) ? [...a[0]] : []) });
  g.set('builtins.frozenset', { call: (a) => (Array.isArray(a[0]) ? [...a[0]] : []) });
  g.set('builtins.slice', opaque('slice'));
  g.set('builtins.complex', opaque('complex'));
  g.set('__builtin__.set', { call: (a) => (Array.isArray(a[0]) ? [...a[0]] : []) });
  // Protocol-2 pickles of bytes objects: _codecs.encode(str, 'latin1').
  g.set('_codecs.encode', {
    call: (a) => Uint8Array.from(String(a[0] ?? ''), (c) => c.charCodeAt(0) & 0xff),
  });
  // Tensors and parameters.
  g.set('torch._utils._rebuild_tensor', { call: (a) => torch.rebuildTensor(a, false) });
  g.set('torch._utils._rebuild_tensor_v2', { call: (a) => torch.rebuildTensor(a, true) });
  g.set('torch._utils._rebuild_parameter', { call: (a) => a[0] });
  g.set('torch._utils._rebuild_parameter_with_state', { call: (a) => a[0] });
  // torch ≥ 1.12 pickles a tensor with Python attributes as _rebuild_from_type_v2(func, type, args, state).
  g.set('torch._tensor._rebuild_from_type_v2', {
    call: (a) => {
      const [fn, , args] = a;
      const known = fn instanceof PyGlobal ? g.get(fn.qualified)?.call : undefined;
      if (!known || !Array.isArray(args))
        throw unreadablePickle('_rebuild_from_type_v2 with an unknown rebuild');
      return known(args);
    },
  });
  g.set('torch._tensor._rebuild_from_type', {
    call: (a) => {
      const [fn, , args] = a;
      const known = fn instanceof PyGlobal ? g.get(fn.qualified)?.call : undefined;
      if (!known || !Array.isArray(args))
        throw unreadablePickle('_rebuild_from_type with an unknown rebuild');
      return known(args);
    },
  });
  g.set('torch.Tensor', { marker: true });
  g.set('torch.nn.parameter.Parameter', { marker: true });
  g.set('torch.Size', { call: (a) => (Array.isArray(a[0]) ? [...a[0]] : []) });
  g.set('torch.device', opaque('torch.device'));
  for (const s of STORAGE_TYPES.keys()) g.set(`torch.${s}`, { marker: true });
  g.set('torch.storage.UntypedStorage', { marker: true });
  g.set('torch.storage.TypedStorage', { marker: true });
  for (const d of ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'uint8', 'bool']) {
    g.set(`torch.${d}`, { marker: true });
  }
  // Training metadata saved beside the weights: numpy scalars and arrays (BasicSR, ESRGAN),
  // argparse namespaces (many research repos). Kept opaque; their contents are never used.
  g.set('numpy.core.multiarray.scalar', opaque('numpy.scalar'));
  g.set('numpy.core.multiarray._reconstruct', opaque('numpy.ndarray'));
  g.set('numpy._core.multiarray.scalar', opaque('numpy.scalar'));
  g.set('numpy._core.multiarray._reconstruct', opaque('numpy.ndarray'));
  g.set('numpy.dtype', opaque('numpy.dtype'));
  g.set('numpy.ndarray', opaque('numpy.ndarray'));
  g.set('argparse.Namespace', opaque('argparse.Namespace'));
  return g;
}

/** torch legacy storage type → element type. */
export const STORAGE_TYPES: ReadonlyMap<string, StorageDtype> = new Map([
  ['FloatStorage', 'f32'],
  ['HalfStorage', 'f16'],
  ['BFloat16Storage', 'bf16'],
  ['DoubleStorage', 'f64'],
  ['LongStorage', 'i64'],
  ['IntStorage', 'i32'],
  ['ShortStorage', 'i16'],
  ['CharStorage', 'i8'],
  ['ByteStorage', 'u8'],
  ['BoolStorage', 'bool'],
]);

export type StorageDtype = 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';

export const DTYPE_BYTES: Record<StorageDtype, number> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  f64: 8,
  i64: 8,
  i32: 4,
  i16: 2,
  i8: 1,
  u8: 1,
  bool: 1,
};

export class PickleError extends Error {}

const unreadablePickle = (message: string) => new PickleError(message);

export interface UnpickleOptions {
  readonly globals: ReadonlyMap<string, SafeGlobal>;
  readonly persistentLoad?: PersistentLoad;
  /** File name for error messages. */
  readonly file: string;
}

/**
 * Read one pickle starting at `offset`; returns the object and the offset after its STOP.
 * Throws `model_unsafe` for a global outside the whitelist and `PickleError` for a malformed
 * stream (the caller turns it into `model_unreadable` with the file name).
 */
export function unpickle(
  bytes: Uint8Array,
  options: UnpickleOptions,
  offset = 0,
): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = offset;
  const text = new TextDecoder('utf-8', { fatal: false });
  const latin1 = new TextDecoder('latin1');

  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.byteLength) {
      throw unreadablePickle(`the pickle is truncated at byte ${pos} (needs ${n} more)`);
    }
  };
  const u8 = () => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw unreadablePickle(`a length of ${v} bytes`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw unreadablePickle(`the pickle is truncated at byte ${pos} (no end of line)`);
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw unreadablePickle(`stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw unreadablePickle(`stack underflow at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw unreadablePickle(`no MARK before byte ${pos}`);
    return stack.splice(m);
  };
  const findGlobal = (module: string, name: string): PyGlobal => {
    const qualified = `${module}.${name}`;
    if (!options.globals.has(qualified)) {
      throw new PixeliftError('model_unsafe', { file: options.file, global: qualified });
    }
    return new PyGlobal(module, name);
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyGlobal)) throw unreadablePickle('REDUCE on something that is not a global');
    const spec = options.globals.get(fn.qualified);
    if (!spec?.call) {
      // Whitelisted as a marker only (e.g. a storage type): constructing it is not part of a
      // state dict, so it is refused like any other unknown call.
      throw new PixeliftError('model_unsafe', { file: options.file, global: `${fn.qualified}()` });
    }
    if (!Array.isArray(args)) throw unreadablePickle(`${fn.qualified} called without an argument tuple`);
    return spec.call(args);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (target instanceof PyDict) {
      for (let i = 0; i + 1 < items.length; i += 2) target.map.set(hashable(items[i]), items[i + 1]);
    } else if (target instanceof PyOpaque) {
      // dict subclasses of opaque metadata: keep nothing.
    } else {
      throw unreadablePickle('SETITEM on something that is not a dict');
    }
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw unreadablePickle('pickle protocol above 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      // --- scalars
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(long(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(long(take(u32())));
        break;
      case 0x49: {
        // INT (text): "01"/"00" are True/False in protocol 0
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : parseIntText(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseIntText(line().replace(/L$/, '')));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(line()));
        break;
      // --- strings and bytes
      case 0x58: // BINUNICODE
        stack.push(text.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text.decode(take(u64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(line());
        break;
      case 0x54: // BINSTRING
        stack.push(latin1.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x53: {
        // STRING (quoted text)
        const s = line();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()));
        break;
      // --- containers
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (!Array.isArray(set)) throw unreadablePickle('ADDITEMS on something that is not a set');
        set.push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw unreadablePickle('APPEND on something that is not a list');
        list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw unreadablePickle('APPENDS on something that is not a list');
        list.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      // --- memo
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw unreadablePickle(`memo ${k} read before it was written`);
        stack.push(memo.get(k));
        break;
      }
      // --- globals and calls: the only way a pickle can reach code
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw unreadablePickle('STACK_GLOBAL without two strings');
        }
        stack.push(findGlobal(module, name));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": build an instance from the marked arguments
        const module = line();
        const name = line();
        const fn = findGlobal(module, name);
        stack.push(call(fn, popMark()));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args… OBJ
        const items = popMark();
        stack.push(call(items[0], items.slice(1)));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ cls args
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX cls args kwargs
        pop();
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state); only for the opaque metadata classes and dicts
        const state = pop();
        const obj = top();
        if (obj instanceof PyOpaque) obj.state = state;
        else if (obj instanceof PyDict) {
          if (state instanceof PyDict) for (const [k, v] of state.map) obj.map.set(k, v);
        } else if (!(isTensorLike(obj) || obj === null)) {
          throw unreadablePickle('BUILD on something that is not an object');
        }
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) throw unreadablePickle('a persistent id where none is expected');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x50: {
        // PERSID (text)
        const pid = line();
        if (!options.persistentLoad) throw unreadablePickle('a persistent id where none is expected');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x82:
      case 0x83:
      case 0x84:
        // EXT1/2/4 name globals through copyreg's extension registry: a way round the whitelist.
        throw new PixeliftError('model_unsafe', { file: options.file, global: 'copyreg extension code' });
      case 0x97:
      case 0x98:
        throw unreadablePickle('out-of-band buffers (pickle protocol 5)');
      default:
        throw unreadablePickle(`unknown pickle opcode 0x${op.toString(16)} at byte ${at}`);
    }
  }
}

/** Tensors built by the checkpoint reader carry this brand so BUILD (Parameter state) can skip them. */
export const TENSOR_BRAND = Symbol('torch tensor');

function isTensorLike(v: unknown): boolean {
  return typeof v === 'object' && v !== null && TENSOR_BRAND in v;
}

function hashable(k: unknown): unknown {
  return typeof k === 'bigint' ? k.toString() : k;
}

function parseIntText(s: string): number | bigint {
  const v = BigInt(s.trim());
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
