/**
 * PRelu without branches, for onnxruntime's CPU provider (issue 12). Its PRelu kernel picks
 * x or a·x per value with a branch, so its time follows the picture: on rocket.jpg's pixels a
 * realesrgan-x4fast run spent 541 ms in PRelu against 132 ms on a flat grey input of the same
 * size, 21 % of the run (59 % in the int8 graph, where the convolutions are cheap). Neither can
 * it run in the NCHWc layout its convolutions use, so each PRelu also costs a reorder out and
 * back (33 pairs in x4fast).
 *
 *   PRelu(x, a) = x + (1 − a)·Relu(−x)
 *
 * holds for any slope (x ≥ 0: x + 0; x < 0: x − (1 − a)·x), and in fp32 onnxruntime keeps all
 * of it in NCHWc as two passes: the products by per-channel constants become 1×1 depthwise
 * convolutions, the first with the Relu fused, the second with the sum fused. It holds one more
 * map than PRelu while it runs (x, Relu(−x) and the result: x4fast's one 640×427 window
 * 359 MB against 283), so segment plans are made from the split graph (store.ts), whose
 * estimate counts it. For x ≥ 0 the result is x, bit for bit; for x < 0 it is a·x within an
 * ulp or two of (1 − a)·x, from rounding 1 − a, the product and the sum (x4fast's output moved
 * by at most 7.8e-6; its int8 graph's not at all, QuantizeLinear absorbs it). The other split,
 * a·x + (1 − a)·Relu(x), takes a third pass: 2591 ms a run against 2432 (PRelu 2859).
 * bench/prelu-probe.ts measures the stored and split graphs side by side.
 */
import fs from 'node:fs';
import { decodeModel, dimsOf, encodeModel, floatsOf, graphOf, initializer, unique } from './qdq.js';

/** The op type as it stands in a serialized graph: a graph without these bytes has no PRelu. */
const PRELU = Buffer.from('PRelu');
/** The window a file is searched through (mayHavePRelu). */
const SCAN_CHUNK = 4 * 2 ** 20;

/**
 * Whether the ONNX file at `file` may hold a PRelu (its op type's bytes occur in it), read through
 * one 4 MiB window: a session opened from a path need not read a whole network into memory to
 * learn it has none (realesrgan-x4plus, 67 MB: 30–70 ms, against 350–560 for reading it whole
 * and searching the copy, under load 3).
 */
export async function mayHavePRelu(file: string): Promise<boolean> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const window = Buffer.allocUnsafe(SCAN_CHUNK);
    let kept = 0; // the tail of the last chunk, which a match may straddle
    for (;;) {
      const { bytesRead } = await fh.read(window, kept, window.length - kept, null);
      if (bytesRead === 0) return false;
      const end = kept + bytesRead;
      if (window.subarray(0, end).includes(PRELU)) return true;
      kept = Math.min(PRELU.length - 1, end);
      window.copy(window, 0, end - kept, end);
    }
  } finally {
    await fh.close();
  }
}

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
  if (!Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(PRELU)) return undefined;
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
  const replacedSlopes = new Set<string>();
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
    const dims = dimsOf(slope);
    // Per-channel constants of the slope's shape, so onnxruntime makes each product a 1×1 depthwise convolution.
    const [minusOne, k] = [name(), name()];
    g.initializer.push(
      initializer(
        minusOne,
        FLOAT,
        dims,
        a.map(() => -1),
      ),
    );
    g.initializer.push(
      initializer(
        k,
        FLOAT,
        dims,
        a.map((v) => 1 - v),
      ),
    );
    const [negated, negPart, scaled] = [name(), name(), name()];
    const base = node.name || node.output![0]!;
    nodes.push(
      { opType: 'Mul', input: [x, minusOne], output: [negated], name: `${base}/neg` },
      { opType: 'Relu', input: [negated], output: [negPart], name: `${base}/relu` },
      { opType: 'Mul', input: [negPart, k], output: [scaled], name: `${base}/scale` },
      { opType: 'Add', input: [x, scaled], output: node.output, name: node.name },
    );
    replacedSlopes.add(slopeName!);
  }
  if (replacedSlopes.size === 0) return undefined;
  g.node = nodes;
  // A slope nothing reads any more would make onnxruntime warn as it drops it.
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  for (const o of g.output ?? []) read.add(o.name ?? '');
  g.initializer = g.initializer.filter((t) => !replacedSlopes.has(t.name ?? '') || read.has(t.name ?? ''));
  return encodeModel(model);
}
