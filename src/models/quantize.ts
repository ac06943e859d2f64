/**
 * PLACEHOLDER quantizer, replaced by the real one (static int8 QDQ with calibrated activation
 * scales, issue 12) at merge: only its three exports are relied on. This one quantizes Conv
 * weights alone (symmetric per-output-channel int8 behind DequantizeLinear), which gives a
 * valid, deterministic int8 ONNX file without calibration, so that the precision plumbing
 * (cache, verification, API, CLI) runs end to end.
 */
import { createHash } from 'node:crypto';
import onnxProto from 'onnx-proto';
import type { ModelEntry } from './catalog.js';

const { onnx } = onnxProto;
type Tensor = onnxProto.onnx.ITensorProto;
type Node = onnxProto.onnx.INodeProto;
const T = onnx.TensorProto.DataType;

/** Part of the cache key of int8 files: bump when the output of quantizeInt8 changes. */
export const QUANTIZER_VERSION = 'placeholder-1';

/** Built-in model ids whose int8 meets the quality bar: `auto` picks int8 only for these. */
export const INT8_AUTO: ReadonlySet<string> = new Set(['realesrgan-x4fast']);

/** Static int8 (QDQ) version of a network we converted to fp32 ONNX. */
export async function quantizeInt8(fp32: Uint8Array, _entry: ModelEntry): Promise<Uint8Array> {
  const model = onnx.ModelProto.decode(fp32);
  const g = model.graph;
  if (!g) throw new TypeError('model has no graph');
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const salt = createHash('sha256').update(fp32).digest('hex').slice(0, 8);
  let k = 0;
  const fresh = () => `int8_${salt}_${k++}`;
  const nodes: Node[] = [];
  const added: Tensor[] = [];
  const replaced = new Set<string>();
  for (const n of g.node ?? []) {
    const w = n.opType === 'Conv' ? inits.get(n.input?.[1] ?? '') : undefined;
    if (!w || w.dataType !== T.FLOAT || !w.rawData || (w.dims ?? []).length !== 4) {
      nodes.push(n);
      continue;
    }
    const dims = (w.dims ?? []).map(Number);
    const copy = new Uint8Array(w.rawData.byteLength);
    copy.set(w.rawData);
    const { q, scale } = perChannel(new Float32Array(copy.buffer), dims[0]!);
    const [qName, sName, zName, dName] = [fresh(), fresh(), fresh(), fresh()];
    added.push(tensor(qName, T.INT8, dims, q));
    added.push(tensor(sName, T.FLOAT, [dims[0]!], scale));
    added.push(tensor(zName, T.INT8, [dims[0]!], new Int8Array(dims[0]!)));
    nodes.push({
      opType: 'DequantizeLinear',
      name: fresh(),
      input: [qName, sName, zName],
      output: [dName],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
    });
    const inputs = [...(n.input ?? [])];
    inputs[1] = dName;
    nodes.push({ ...n, input: inputs });
    replaced.add(w.name ?? '');
  }
  g.node = nodes;
  const stillUsed = new Set(nodes.flatMap((n) => n.input ?? []));
  g.initializer = [
    ...(g.initializer ?? []).filter((t) => !replaced.has(t.name ?? '') || stillUsed.has(t.name ?? '')),
    ...added,
  ];
  return onnx.ModelProto.encode(model).finish();
}

function perChannel(w: Float32Array, channels: number): { q: Int8Array; scale: Float32Array } {
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scale = new Float32Array(channels);
  for (let m = 0; m < channels; m++) {
    let amax = 0;
    for (let i = m * per; i < (m + 1) * per; i++) amax = Math.max(amax, Math.abs(w[i]!));
    const s = amax > 0 ? amax / 127 : 1;
    scale[m] = s;
    for (let i = m * per; i < (m + 1) * per; i++) q[i] = Math.round(w[i]! / s);
  }
  return { q, scale };
}

function tensor(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): Tensor {
  return {
    name,
    dataType,
    dims: [...dims],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}
