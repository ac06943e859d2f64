/**
 * Rewrites of a GraphBuilder-produced ONNX model for the precision experiments. They work on
 * the serialized ModelProto (decoded with onnx-proto), so the importers need no hooks and any
 * importer's output can be rewritten: fp16 weight storage and int8 with dynamic activation
 * quantization (ConvInteger). Static int8 (QDQ → QLinearConv) is the product's own:
 * src/models/onnx/qdq.ts and src/models/quantize.ts.
 */
import onnxProto from 'onnx-proto';
import {
  decodeModel,
  dimsOf,
  encodeModel,
  floatsOf,
  graphOf,
  initializer,
  quantizeWeights,
  unique,
} from '../../src/models/onnx/qdq.js';

export { decodeModel, encodeModel, opCounts } from '../../src/models/onnx/qdq.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
const T = onnx.TensorProto.DataType;

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

/** The model with its default-domain opset set to `version`. */
export function withOpset(bytes: Uint8Array, version: number): Uint8Array {
  const model = decodeModel(bytes);
  model.opsetImport = [{ domain: '', version }];
  return encodeModel(model);
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
