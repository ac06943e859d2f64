/**
 * Rewrites of a GraphBuilder-produced ONNX model for the precision experiments. They work on
 * the serialized ModelProto (decoded with onnx-proto), so the importers need no hooks and any
 * importer's output can be rewritten: fp16 weight storage, int8 with dynamic activation
 * quantization (ConvInteger), int8 with calibrated static scales (QDQ → QLinearConv).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
type Graph = onnxProto.onnx.IGraphProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
const T = onnx.TensorProto.DataType;

export const decodeModel = (bytes: Uint8Array): Model => onnx.ModelProto.decode(bytes);
export const encodeModel = (model: Model): Uint8Array => onnx.ModelProto.encode(model).finish();

function graphOf(model: Model): Graph & { node: Node[]; initializer: Tensor[] } {
  const g = model.graph;
  if (!g) throw new TypeError('model has no graph');
  g.node ??= [];
  g.initializer ??= [];
  return g as Graph & { node: Node[]; initializer: Tensor[] };
}

const dimsOf = (t: Tensor): number[] => (t.dims ?? []).map(Number);

function floatsOf(t: Tensor): Float32Array {
  if (t.dataType !== T.FLOAT || !t.rawData) throw new TypeError(`initializer ${t.name} is not raw float32`);
  // Copy: raw_data is a view into the decoded buffer and need not be 4-byte aligned.
  const copy = new Uint8Array(t.rawData.byteLength);
  copy.set(t.rawData);
  return new Float32Array(copy.buffer);
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function initializer(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): Tensor {
  return { name, dataType, dims: [...dims], rawData: bytesOf(data) };
}

function unique(graph: Graph, base: string): () => string {
  const used = new Set<string>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) used.add(o);
  for (const t of graph.initializer ?? []) used.add(t.name ?? '');
  for (const i of graph.input ?? []) used.add(i.name ?? '');
  let k = 0;
  return () => {
    let name: string;
    do name = `${base}_${k++}`;
    while (used.has(name));
    used.add(name);
    return name;
  };
}

// ---------------------------------------------------------------------------------------------
// fp16 weight storage

/** IEEE half bits of a float, round to nearest even (the inverse of src/models/import/half.ts). */
export function floatToHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent.
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && half & 1) ? 1 : 0));
}

/**
 * Store every Conv weight as FLOAT16 and Cast it back to float in the graph: the file halves,
 * and whether the runtime keeps the small copy depends on whether it constant-folds the Cast.
 */
export function weightsToFp16(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  const g = graphOf(model);
  const weights = new Set(g.node.filter((n) => n.opType === 'Conv').map((n) => n.input?.[1] ?? ''));
  const casts: Node[] = [];
  g.initializer = g.initializer.map((t) => {
    if (!weights.has(t.name ?? '')) return t;
    const f = floatsOf(t);
    const h = Uint16Array.from(f, floatToHalf);
    const name = `${t.name}_fp16`;
    casts.push({
      opType: 'Cast',
      name: `${t.name}_cast`,
      input: [name],
      output: [t.name!],
      attribute: [toAttr(T.FLOAT)],
    });
    return initializer(name, T.FLOAT16, dimsOf(t), h);
  });
  g.node = [...casts, ...g.node];
  return encodeModel(model);
}

const toAttr = (to: number): onnxProto.onnx.IAttributeProto => ({
  name: 'to',
  type: onnx.AttributeProto.AttributeType.INT,
  i: to,
});

// ---------------------------------------------------------------------------------------------
// int8

/** Symmetric per-output-channel int8 weights: w ≈ q × scale[m]. */
function quantizeWeights(w: Float32Array, outChannels: number): { q: Int8Array; scale: Float32Array } {
  const per = w.length / outChannels;
  const q = new Int8Array(w.length);
  const scale = new Float32Array(outChannels);
  for (let m = 0; m < outChannels; m++) {
    let amax = 0;
    for (let i = m * per; i < (m + 1) * per; i++) amax = Math.max(amax, Math.abs(w[i]!));
    const s = amax > 0 ? amax / 127 : 1;
    scale[m] = s;
    for (let i = m * per; i < (m + 1) * per; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i]! / s)));
  }
  return { q, scale };
}

function convParts(g: ReturnType<typeof graphOf>, n: Node) {
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  const w = inits.get(n.input?.[1] ?? '');
  const b = n.input?.[2] ? inits.get(n.input[2]) : undefined;
  if (!w) return undefined;
  const dims = dimsOf(w);
  return { w, weights: floatsOf(w), dims, bias: b ? floatsOf(b) : undefined, biasName: b?.name ?? undefined };
}

function dropInitializers(g: ReturnType<typeof graphOf>, names: Set<string>): void {
  const stillUsed = new Set(g.node.flatMap((n) => n.input ?? []));
  g.initializer = g.initializer.filter((t) => !names.has(t.name ?? '') || stillUsed.has(t.name ?? ''));
}

/**
 * int8 with dynamic activation quantization, the form onnxruntime's `quantize_dynamic` gives
 * convolutions: per Conv input, DynamicQuantizeLinear (uint8, per-tensor scale found at run
 * time); ConvInteger with symmetric per-channel int8 weights; the int32 result is scaled back
 * to float by x_scale × w_scale[m] and the float bias is added.
 */
export function dynamicInt8Convs(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  const g = graphOf(model);
  const fresh = unique(g, 'dq');
  const quantized = new Map<string, { q: string; scale: string; zp: string }>();
  const replaced = new Set<string>();
  const out: Node[] = [];
  for (const n of g.node) {
    const parts = n.opType === 'Conv' ? convParts(g, n) : undefined;
    if (!parts) {
      out.push(n);
      continue;
    }
    const x = n.input![0]!;
    let xq = quantized.get(x);
    if (!xq) {
      xq = { q: fresh(), scale: fresh(), zp: fresh() };
      quantized.set(x, xq);
      out.push({
        opType: 'DynamicQuantizeLinear',
        name: fresh(),
        input: [x],
        output: [xq.q, xq.scale, xq.zp],
      });
    }
    const m = parts.dims[0]!;
    const { q, scale } = quantizeWeights(parts.weights, m);
    const wName = fresh();
    const wzName = fresh();
    // onnxruntime's ConvInteger takes only a per-tensor weight zero point ("Non per-tensor
    // quantization is not supported now"); symmetric weights make it 0, and the per-channel
    // scales are applied by the Mul after it.
    g.initializer.push(initializer(wName, T.INT8, parts.dims, q));
    g.initializer.push(initializer(wzName, T.INT8, [], Int8Array.of(0)));
    const wScale = fresh();
    g.initializer.push(initializer(wScale, T.FLOAT, [1, m, 1, 1], scale));
    replaced.add(parts.w.name!);
    const acc = fresh();
    out.push({
      opType: 'ConvInteger',
      name: fresh(),
      input: [xq.q, wName, xq.zp, wzName],
      output: [acc],
      attribute: n.attribute ?? [],
    });
    const accF = fresh();
    out.push({ opType: 'Cast', name: fresh(), input: [acc], output: [accF], attribute: [toAttr(T.FLOAT)] });
    const s = fresh();
    out.push({ opType: 'Mul', name: fresh(), input: [xq.scale, wScale], output: [s] });
    const y = n.output![0]!;
    if (parts.bias) {
      const scaled = fresh();
      out.push({ opType: 'Mul', name: fresh(), input: [accF, s], output: [scaled] });
      const bName = fresh();
      g.initializer.push(initializer(bName, T.FLOAT, [1, m, 1, 1], parts.bias));
      replaced.add(parts.biasName!);
      out.push({ opType: 'Add', name: fresh(), input: [scaled, bName], output: [y] });
    } else {
      out.push({ opType: 'Mul', name: fresh(), input: [accF, s], output: [y] });
    }
  }
  g.node = out;
  dropInitializers(g, replaced);
  return encodeModel(model);
}

export interface Range {
  min: number;
  max: number;
}

/** Which activations the static scheme quantizes: Conv inputs and outputs only, or every tensor. */
export type QdqScope = 'conv' | 'all';

/** The float activations that `staticQdq` will quantize, i.e. what calibration must observe. */
export function activationsToCalibrate(bytes: Uint8Array, scope: QdqScope): string[] {
  const g = graphOf(decodeModel(bytes));
  const inits = new Set(g.initializer.map((t) => t.name ?? ''));
  const outputs = new Set((g.output ?? []).map((o) => o.name ?? ''));
  const names = new Set<string>();
  for (const n of g.node) {
    if (scope === 'conv' && n.opType !== 'Conv') continue;
    const ins = n.opType === 'Conv' ? [n.input?.[0] ?? ''] : (n.input ?? []);
    for (const i of ins) if (i && !inits.has(i)) names.add(i);
    for (const o of n.output ?? []) if (!outputs.has(o)) names.add(o);
  }
  return [...names];
}

/** The model with `names` added as float graph outputs, for a calibration run. */
export function exposeTensors(bytes: Uint8Array, names: readonly string[]): Uint8Array {
  const model = decodeModel(bytes);
  const g = graphOf(model);
  const have = new Set((g.output ?? []).map((o) => o.name));
  g.output = [
    ...(g.output ?? []),
    ...names
      .filter((n) => !have.has(n))
      .map((name) => ({ name, type: { tensorType: { elemType: T.FLOAT } } })),
  ];
  return encodeModel(model);
}

/** uint8 affine parameters covering [min, max] (always including 0, as ONNX requires). */
function u8Params(r: Range): { scale: number; zp: number } {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zp: Math.max(0, Math.min(255, Math.round(-lo / scale))) };
}

/**
 * int8 with static (calibrated) activation scales in QDQ form: every quantized activation is
 * wrapped as DequantizeLinear(QuantizeLinear(x)), Conv weights become DequantizeLinear of
 * per-channel int8 and biases DequantizeLinear of int32 at scale x_scale × w_scale. onnxruntime's
 * QDQ transformers then fuse DQ → Conv → Q into QLinearConv (u8 × s8, VNNI on this CPU) and,
 * with scope 'all', the other ops they support (LeakyRelu, Concat, Add, …) likewise.
 */
export function staticQdq(
  bytes: Uint8Array,
  ranges: ReadonlyMap<string, Range>,
  scope: QdqScope,
): Uint8Array {
  const model = decodeModel(bytes);
  const g = graphOf(model);
  const fresh = unique(g, 'qdq');
  const wanted = new Set(activationsToCalibrate(bytes, scope));
  const params = new Map<string, { scale: string; zp: string; s: number }>();
  const qdqOf = new Map<string, string>();
  const prologue: Node[] = [];
  const out: Node[] = [];
  const replaced = new Set<string>();

  const paramsOf = (x: string) => {
    let p = params.get(x);
    if (!p) {
      const r = ranges.get(x);
      if (!r) throw new RangeError(`no calibration range for ${x}`);
      const { scale, zp } = u8Params(r);
      p = { scale: fresh(), zp: fresh(), s: scale };
      g.initializer.push(initializer(p.scale, T.FLOAT, [], Float32Array.of(scale)));
      g.initializer.push(initializer(p.zp, T.UINT8, [], Uint8Array.of(zp)));
      params.set(x, p);
    }
    return p;
  };
  /** Q→DQ of activation x, emitted once right after x is produced; consumers read the DQ. */
  const qdq = (x: string, into: Node[]): string => {
    let d = qdqOf.get(x);
    if (d) return d;
    const p = paramsOf(x);
    const q = fresh();
    d = fresh();
    into.push({ opType: 'QuantizeLinear', name: fresh(), input: [x, p.scale, p.zp], output: [q] });
    into.push({ opType: 'DequantizeLinear', name: fresh(), input: [q, p.scale, p.zp], output: [d] });
    qdqOf.set(x, d);
    return d;
  };

  for (const i of g.input ?? []) if (wanted.has(i.name ?? '')) qdq(i.name!, prologue);
  for (const n of g.node) {
    const parts = n.opType === 'Conv' ? convParts(g, n) : undefined;
    const inputs = (n.input ?? []).map((name, k) => {
      if (n.opType === 'Conv' && k > 0) return name;
      return qdqOf.get(name) ?? name;
    });
    if (parts) {
      const m = parts.dims[0]!;
      const { q, scale } = quantizeWeights(parts.weights, m);
      const wq = fresh();
      const ws = fresh();
      const wz = fresh();
      g.initializer.push(initializer(wq, T.INT8, parts.dims, q));
      g.initializer.push(initializer(ws, T.FLOAT, [m], scale));
      g.initializer.push(initializer(wz, T.INT8, [m], new Int8Array(m)));
      const wd = fresh();
      out.push({
        opType: 'DequantizeLinear',
        name: fresh(),
        input: [wq, ws, wz],
        output: [wd],
        attribute: [axis0],
      });
      inputs[1] = wd;
      replaced.add(parts.w.name!);
      if (parts.bias) {
        const xs = paramsOf(n.input![0]!).s;
        const bScale = Float32Array.from(scale, (s) => s * xs);
        const bq = Int32Array.from(parts.bias, (b, i) => Math.round(b / bScale[i]!));
        const [bqName, bsName, bzName, bd] = [fresh(), fresh(), fresh(), fresh()];
        g.initializer.push(initializer(bqName, T.INT32, [m], bq));
        g.initializer.push(initializer(bsName, T.FLOAT, [m], bScale));
        g.initializer.push(initializer(bzName, T.INT32, [m], new Int32Array(m)));
        out.push({
          opType: 'DequantizeLinear',
          name: fresh(),
          input: [bqName, bsName, bzName],
          output: [bd],
          attribute: [axis0],
        });
        inputs[2] = bd;
        replaced.add(parts.biasName!);
      }
    }
    out.push({ ...n, input: inputs });
    for (const o of n.output ?? []) if (wanted.has(o)) qdq(o, out);
  }
  g.node = [...prologue, ...out];
  dropInitializers(g, replaced);
  return encodeModel(model);
}

const axis0: onnxProto.onnx.IAttributeProto = {
  name: 'axis',
  type: onnx.AttributeProto.AttributeType.INT,
  i: 0,
};

/** The model with its default-domain opset set to `version`. */
export function withOpset(bytes: Uint8Array, version: number): Uint8Array {
  const model = decodeModel(bytes);
  model.opsetImport = [{ domain: '', version }];
  return encodeModel(model);
}

/** Op types in a model (after optimization, when read from an optimized-model dump), counted. */
export function opCounts(bytes: Uint8Array): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of graphOf(decodeModel(bytes)).node) {
    const key = n.domain ? `${n.domain}.${n.opType}` : (n.opType ?? '?');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Initializer bytes by element type name, e.g. { FLOAT: 1.2e6, FLOAT16: 3.3e7 }. */
export function initializerBytes(bytes: Uint8Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of graphOf(decodeModel(bytes)).initializer) {
    const key = T[t.dataType ?? 0] ?? String(t.dataType);
    out[key] = (out[key] ?? 0) + (t.rawData?.byteLength ?? 0);
  }
  return out;
}
