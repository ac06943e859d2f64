/**
 * PRelu without branches, for onnxruntime's CPU provider (issue 12). Its PRelu kernel picks
 * x or a·x per value with a branch, so its time follows the picture: on rocket.jpg's pixels a
 * realesrgan-x4fast run spent 541 ms in PRelu against 132 ms on a flat grey input of the same
 * size, 21 % of the run (59 % in the int8 graph, where the convolutions are cheap). Neither can
 * it run in the NCHWc layout its convolutions use, so each PRelu also costs a reorder out and
 * back (33 pairs in x4fast).
 *
 *   PRelu(x, a) = a·x + (1 − a)·Relu(x)
 *
 * holds for any slope (x > 0: a·x + (1 − a)·x; x ≤ 0: a·x + 0), and every op in it stays in
 * NCHWc: the two products by a per-channel constant become 1×1 depthwise convolutions and the
 * sum is fused into the second. For x ≤ 0 the result is a·x, bit for bit; for x > 0 the two
 * rounded products sum to x within about one unit in the last place (x4fast's output moved by
 * at most 4.3e-6; the int8 graph's not at all, its QuantizeLinear absorbs it).
 * bench/prelu-probe.ts measures both graphs side by side.
 */
import { decodeModel, dimsOf, encodeModel, floatsOf, graphOf, initializer, unique } from './qdq.js';

/** ONNX TensorProto.DataType.FLOAT and TensorProto.DataLocation.EXTERNAL. */
const FLOAT = 1;
const EXTERNAL = 1;

/**
 * The graph with every PRelu whose slope is a float32 initializer rewritten as above, or
 * undefined when there is none (or the graph keeps weights in external files, which only a
 * path can resolve, or predates broadcasting Mul, opset 7). Node order, value names and the
 * graph's inputs and outputs are unchanged: the PRelu's output is the sum's.
 */
export function splitPRelu(bytes: Uint8Array): Uint8Array | undefined {
  if (!Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes('PRelu')) return undefined;
  const model = decodeModel(bytes);
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!opset || Number(opset.version) < 7) return undefined;
  const g = graphOf(model);
  if (g.initializer.some((t) => t.dataLocation === EXTERNAL)) return undefined;
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  // An initializer that is also a graph input is a default the caller may override.
  const overridable = new Set((g.input ?? []).map((i) => i.name ?? ''));
  const name = unique(g, 'prelu_split');
  const nodes: typeof g.node = [];
  let rewritten = 0;
  for (const node of g.node) {
    const [x, slopeName] = node.input ?? [];
    const slope = inits.get(slopeName ?? '');
    if (
      node.opType !== 'PRelu' ||
      (node.domain && node.domain !== 'ai.onnx') ||
      !x ||
      !slope ||
      slope.dataType !== FLOAT ||
      overridable.has(slopeName!)
    ) {
      nodes.push(node);
      continue;
    }
    const a = slope.rawData?.length ? floatsOf(slope) : Float32Array.from(slope.floatData ?? []);
    const k = name();
    g.initializer.push(
      initializer(
        k,
        FLOAT,
        dimsOf(slope),
        a.map((v) => 1 - v),
      ),
    );
    const [relu, ax, kRelu] = [name(), name(), name()];
    const base = node.name || node.output![0]!;
    nodes.push(
      { opType: 'Relu', input: [x], output: [relu], name: `${base}/relu` },
      { opType: 'Mul', input: [x, slopeName!], output: [ax], name: `${base}/ax` },
      { opType: 'Mul', input: [relu, k], output: [kRelu], name: `${base}/kRelu` },
      { opType: 'Add', input: [ax, kRelu], output: node.output, name: node.name },
    );
    rewritten++;
  }
  if (rewritten === 0) return undefined;
  g.node = nodes;
  return encodeModel(model);
}
