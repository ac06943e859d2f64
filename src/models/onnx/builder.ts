/**
 * A small typed builder for ONNX graphs. It emits `ModelProto` bytes through `onnx-proto`,
 * which is ONNX's own `onnx.proto3` compiled by protobufjs, so no protobuf is hand-encoded.
 *
 * Plain numbers and number arrays are INT / INTS attributes; wrap floats with `float()` /
 * `floats()` so that `alpha: 1` can never be mistaken for an integer.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7, FLOAT16: 10, BFLOAT16: 16 } as const;

/** Opset 17: DepthToSpace (13) with CRD/DCR modes, Resize (13+), LayerNorm not needed. */
export const OPSET = 17;
export const IR_VERSION = 8;

export class FloatAttr {
  constructor(readonly value: number) {}
}
export class FloatsAttr {
  constructor(readonly value: readonly number[]) {}
}
export const float = (v: number): FloatAttr => new FloatAttr(v);
export const floats = (v: readonly number[]): FloatsAttr => new FloatsAttr(v);

export type AttrValue = number | readonly number[] | string | FloatAttr | FloatsAttr;
export type Attrs = Record<string, AttrValue | undefined>;

export type Dim = number | string;

export interface TensorInit {
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array | Uint16Array;
  /** Only for Uint16Array data: FLOAT16 or BFLOAT16 bit patterns. */
  readonly dataType?: number;
}

interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
  name: string;
}

export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly inputs: { name: string; dims: readonly Dim[] }[] = [];
  private readonly outputs: { name: string; dims: readonly Dim[] }[] = [];
  private readonly initializers = new Map<string, TensorInit>();
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A name not used yet in this graph, derived from `prefix`. */
  unique(prefix: string): string {
    let candidate = prefix;
    while (this.used.has(candidate)) candidate = `${prefix}_${++this.counter}`;
    this.used.add(candidate);
    return candidate;
  }

  input(name: string, dims: readonly Dim[]): string {
    this.used.add(name);
    this.inputs.push({ name, dims });
    return name;
  }

  /** Mark `value` as a graph output named `name` (an Identity is inserted when they differ). */
  output(value: string, name: string, dims: readonly Dim[]): string {
    if (value !== name) {
      this.used.add(name);
      this.nodes.push({
        opType: 'Identity',
        inputs: [value],
        outputs: [name],
        attrs: {},
        name: `${name}_out`,
      });
    }
    this.outputs.push({ name, dims });
    return name;
  }

  /** A float32 constant tensor; returns its name. */
  tensor(prefix: string, data: Float32Array, dims: readonly number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new RangeError(
        `Tensor ${prefix}: dims ${dims.join('x')} hold ${size} values, data has ${data.length}`,
      );
    }
    const name = this.unique(prefix);
    this.initializers.set(name, { dims, data });
    return name;
  }

  int64s(prefix: string, values: readonly number[]): string {
    const name = this.unique(prefix);
    this.initializers.set(name, { dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  scalar(prefix: string, value: number): string {
    return this.tensor(prefix, Float32Array.of(value), []);
  }

  /** Add a node with one output; returns the output's name. */
  node(opType: string, inputs: readonly string[], attrs: Attrs = {}, outputName?: string): string {
    const out = this.unique(outputName ?? opType.toLowerCase());
    this.nodes.push({ opType, inputs: [...inputs], outputs: [out], attrs, name: out });
    return out;
  }

  /** Every float initializer, for passes that rewrite weights (precision experiments). */
  mapInitializers(fn: (name: string, init: TensorInit) => TensorInit): void {
    for (const [name, init] of this.initializers) this.initializers.set(name, fn(name, init));
  }

  toBytes(
    meta: { producer?: string; docString?: string; metadata?: Record<string, string> } = {},
  ): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: meta.producer ?? 'pixelift',
      docString: meta.docString ?? '',
      metadataProps: Object.entries(meta.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes.map((n) => ({
          opType: n.opType,
          name: n.name,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attrs)
            .filter((e): e is [string, AttrValue] => e[1] !== undefined)
            .map(([k, v]) => attribute(k, v)),
        })),
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
        initializer: [...this.initializers].map(([name, t]) => tensorProto(name, t)),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(v: { name: string; dims: readonly Dim[] }): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (v instanceof FloatAttr) return { name, type: T.FLOAT, f: v.value };
  if (v instanceof FloatsAttr) return { name, type: T.FLOATS, floats: [...v.value] };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v))
      throw new TypeError(`Attribute ${name}: ${v} is not an integer; wrap floats with float()`);
    return { name, type: T.INT, i: v };
  }
  for (const x of v) {
    if (!Number.isInteger(x)) throw new TypeError(`Attribute ${name}: ${x} is not an integer; use floats()`);
  }
  return { name, type: T.INTS, ints: [...v] };
}

function tensorProto(name: string, t: TensorInit): onnxProto.onnx.ITensorProto {
  const dataType =
    t.data instanceof Float32Array
      ? DataType.FLOAT
      : t.data instanceof BigInt64Array
        ? DataType.INT64
        : (t.dataType ?? DataType.FLOAT16);
  // raw_data is little-endian; every platform onnxruntime-node ships for is little-endian.
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: [...t.dims], dataType, rawData: raw };
}
