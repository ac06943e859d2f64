/**
 * Static int8 rewrite of a float ONNX graph in QDQ form (issue 12): the serialized ModelProto
 * is decoded with onnx-proto and rewritten, so any importer's output can be quantized.
 *
 * A quantized Conv reads DequantizeLinear(QuantizeLinear(x)) with a calibrated uint8 scale,
 * per-output-channel symmetric int8 weights and an int32 bias, and its output goes through
 * Q → DQ; onnxruntime's QDQ transformers fuse DQ → Conv → Q into QLinearConv. Only Conv is
 * quantized: element-wise ops, Concat, Resize and the residual sums run in float on the
 * dequantized values, and a Conv input produced by a float op is quantized for that Conv alone
 * (its other readers, e.g. a residual Add, keep the float value).
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

export type GraphOf = Graph & { node: Node[]; initializer: Tensor[] };

export function graphOf(model: Model): GraphOf {
  const g = model.graph;
  if (!g) throw new TypeError('model has no graph');
  g.node ??= [];
  g.initializer ??= [];
  return g as GraphOf;
}

export const dimsOf = (t: Tensor): number[] => (t.dims ?? []).map(Number);

export function floatsOf(t: Tensor): Float32Array {
  if (t.dataType !== T.FLOAT || !t.rawData) throw new TypeError(`initializer ${t.name} is not raw float32`);
  // Copy: raw_data is a view into the decoded buffer and need not be 4-byte aligned.
  const copy = new Uint8Array(t.rawData.byteLength);
  copy.set(t.rawData);
  return new Float32Array(copy.buffer);
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function initializer(
  name: string,
  dataType: number,
  dims: readonly number[],
  data: ArrayBufferView,
): Tensor {
  return { name, dataType, dims: [...dims], rawData: bytesOf(data) };
}

/** A generator of value names that do not clash with any in the graph. */
export function unique(graph: Graph, base: string): () => string {
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

/**
 * Symmetric per-output-channel weights: w ≈ q × scale[m], q in ±(2^(bits-1) - 1). 7 bits keep
 * the u8 × s8 pair sums of AVX2's vpmaddubsw (255 × 64 × 2 < 32767) from saturating on CPUs
 * without VNNI; 8 bits are exact only with VNNI or the u8u8 path.
 */
export function quantizeWeights(
  w: Float32Array,
  outChannels: number,
  bits = 8,
): { q: Int8Array; scale: Float32Array } {
  const per = w.length / outChannels;
  const top = 2 ** (bits - 1) - 1;
  const q = new Int8Array(w.length);
  const scale = new Float32Array(outChannels);
  for (let m = 0; m < outChannels; m++) {
    let amax = 0;
    for (let i = m * per; i < (m + 1) * per; i++) amax = Math.max(amax, Math.abs(w[i]!));
    const s = amax > 0 ? amax / top : 1;
    scale[m] = s;
    for (let i = m * per; i < (m + 1) * per; i++) q[i] = Math.max(-top, Math.min(top, Math.round(w[i]! / s)));
  }
  return { q, scale };
}

/** A Conv whose weights (and bias) are float initializers: the ones that can be quantized. */
export interface QuantizableConv {
  readonly name: string;
  readonly input: string;
  readonly output: string;
  /** Multiply-adds per pixel of its output (cout × cin/group × kh × kw). */
  readonly macsPerPixel: number;
  /** Channels of `input` and `output` (from the weights: cin = dims[1] × group, cout = dims[0]). */
  readonly inChannels: number;
  readonly outChannels: number;
}

export function quantizableConvs(bytes: Uint8Array): QuantizableConv[] {
  const g = graphOf(decodeModel(bytes));
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  // A Conv that gives a graph output stays float: a fused QLinearConv would give uint8.
  const outputs = new Set((g.output ?? []).map((o) => o.name ?? ''));
  const out: QuantizableConv[] = [];
  for (const n of g.node) {
    if (n.opType !== 'Conv' || !n.name || (n.output ?? []).length !== 1 || outputs.has(n.output![0]!))
      continue;
    const w = inits.get(n.input?.[1] ?? '');
    const b = n.input?.[2] ? inits.get(n.input[2]) : undefined;
    const x = n.input?.[0] ?? '';
    if (!w || w.dataType !== T.FLOAT || !w.rawData || inits.has(x) || x === '') continue;
    if (n.input?.[2] && (!b || b.dataType !== T.FLOAT || !b.rawData)) continue;
    const dims = dimsOf(w);
    if (dims.length !== 4) continue;
    const group = Number((n.attribute ?? []).find((a) => a.name === 'group')?.i ?? 1);
    out.push({
      name: n.name,
      input: x,
      output: n.output![0]!,
      macsPerPixel: dims.reduce((a, d) => a * d, 1),
      inChannels: dims[1]! * group,
      outChannels: dims[0]!,
    });
  }
  return out;
}

/** The activations `staticQdq` needs a range for when it quantizes `convs`. */
export function activationsOf(convs: readonly QuantizableConv[]): string[] {
  return [...new Set(convs.flatMap((c) => [c.input, c.output]))];
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

export interface Range {
  min: number;
  max: number;
}

/** uint8 affine parameters covering [min, max] (always including 0, as ONNX requires). */
export function u8Params(r: Range): { scale: number; zp: number } {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zp: Math.max(0, Math.min(255, Math.round(-lo / scale))) };
}

export interface QdqOptions {
  /** Calibrated range of every activation `activationsOf(convs)` names. */
  readonly ranges: ReadonlyMap<string, Range>;
  /** Names of the Conv nodes to quantize (the rest stay float). */
  readonly convs: ReadonlySet<string>;
  /** Weight bits, 8 or 7 (see quantizeWeights). */
  readonly weightBits?: number;
}

const axis0: onnxProto.onnx.IAttributeProto = {
  name: 'axis',
  type: onnx.AttributeProto.AttributeType.INT,
  i: 0,
};

/** The QDQ int8 graph: the Conv nodes named in `options.convs` quantized, the rest untouched. */
export function staticQdq(bytes: Uint8Array, options: QdqOptions): Uint8Array {
  const model = decodeModel(bytes);
  const g = graphOf(model);
  const fresh = unique(g, 'qdq');
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  const convs = quantizableConvs(bytes).filter((c) => options.convs.has(c.name));
  const byName = new Map(convs.map((c) => [c.name, c]));
  const quantizedInputs = new Set(convs.map((c) => c.input));
  const quantizedOutputs = new Set(convs.map((c) => c.output));
  const params = new Map<string, { scale: string; zp: string; s: number }>();
  const inputDq = new Map<string, string>();
  const outputDq = new Map<string, string>();
  const out: Node[] = [];
  const replaced = new Set<string>();

  const paramsOf = (x: string) => {
    let p = params.get(x);
    if (!p) {
      const r = options.ranges.get(x);
      if (!r || !Number.isFinite(r.min) || !Number.isFinite(r.max)) {
        throw new RangeError(`no finite calibration range for ${x}`);
      }
      const { scale, zp } = u8Params(r);
      p = { scale: fresh(), zp: fresh(), s: scale };
      g.initializer.push(initializer(p.scale, T.FLOAT, [], Float32Array.of(scale)));
      g.initializer.push(initializer(p.zp, T.UINT8, [], Uint8Array.of(zp)));
      params.set(x, p);
    }
    return p;
  };
  const qdq = (x: string, into: Node[]): string => {
    const p = paramsOf(x);
    const q = fresh();
    const d = fresh();
    into.push({ opType: 'QuantizeLinear', name: fresh(), input: [x, p.scale, p.zp], output: [q] });
    into.push({ opType: 'DequantizeLinear', name: fresh(), input: [q, p.scale, p.zp], output: [d] });
    return d;
  };
  /** A Conv input produced by a float op (or the graph input): quantized right after it. */
  const quantizeInput = (x: string) => {
    if (!quantizedInputs.has(x) || quantizedOutputs.has(x) || inputDq.has(x)) return;
    inputDq.set(x, qdq(x, out));
  };

  for (const i of g.input ?? []) quantizeInput(i.name ?? '');
  for (const n of g.node) {
    const conv = n.name ? byName.get(n.name) : undefined;
    // A quantized Conv's output is read only through its DQ, by everyone: the fused QLinearConv
    // gives nothing else. Other inputs read the float value.
    const inputs = (n.input ?? []).map((v) => outputDq.get(v) ?? v);
    if (conv) {
      inputs[0] = outputDq.get(conv.input) ?? inputDq.get(conv.input)!;
      const w = inits.get(n.input![1]!)!;
      const dims = dimsOf(w);
      const m = dims[0]!;
      const { q, scale } = quantizeWeights(floatsOf(w), m, options.weightBits ?? 8);
      const [wq, ws, wz, wd] = [fresh(), fresh(), fresh(), fresh()];
      g.initializer.push(initializer(wq, T.INT8, dims, q));
      g.initializer.push(initializer(ws, T.FLOAT, [m], scale));
      g.initializer.push(initializer(wz, T.INT8, [m], new Int8Array(m)));
      out.push({
        opType: 'DequantizeLinear',
        name: fresh(),
        input: [wq, ws, wz],
        output: [wd],
        attribute: [axis0],
      });
      inputs[1] = wd;
      replaced.add(w.name!);
      const b = n.input?.[2] ? inits.get(n.input[2]) : undefined;
      if (b) {
        const xs = paramsOf(conv.input).s;
        const bScale = Float32Array.from(scale, (s) => s * xs);
        const bq = Int32Array.from(floatsOf(b), (v, i) => Math.round(v / bScale[i]!));
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
        replaced.add(b.name!);
      }
    }
    out.push({ ...n, input: inputs });
    for (const o of n.output ?? []) {
      if (quantizedOutputs.has(o) && conv?.output === o) outputDq.set(o, qdq(o, out));
      else quantizeInput(o);
    }
  }
  g.node = out;
  const stillUsed = new Set(g.node.flatMap((n) => n.input ?? []));
  g.initializer = g.initializer.filter((t) => !replaced.has(t.name ?? '') || stillUsed.has(t.name ?? ''));
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
