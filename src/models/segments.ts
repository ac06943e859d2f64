/**
 * Cut a super-resolution graph into segments that can each be tiled exactly (issue 12).
 *
 * Whole-network tiling pays the network's whole receptive field as context on every tile
 * (x4plus: 48 px around 192 px tiles, 2.25× the work, and still not exact). Here the graph is
 * split where few feature maps cross: the 1×-resolution trunk into segments (x4plus: one RRDB
 * each, 15 px of receptive halo), and everything from the first upsampling on into one tail
 * (≈2 input px of halo). Each segment can then run over tiles that carry only its own halo,
 * with the feature maps between segments kept whole; a tile whose window is clamped at the
 * image border zero-pads exactly as a whole-image run does, so the result equals it up to
 * float summation order.
 *
 * The analysis knows the ops our importers emit (Conv at stride 1 with size-preserving pads,
 * element-wise ops, Concat on channels, Resize, DepthToSpace), and the QuantizeLinear /
 * DequantizeLinear pairs of our int8 graphs (src/models/onnx/qdq.ts). A graph with anything else is
 * not segmented and runs whole-network tiled as before.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

export interface SegmentTensor {
  readonly name: string;
  readonly channels: number;
}

export interface Segment {
  /** A standalone ONNX model: `inputs` (all at 1× the network input) → `outputs` (at `scale`). */
  readonly onnx: Uint8Array;
  readonly inputs: readonly SegmentTensor[];
  readonly outputs: readonly SegmentTensor[];
  /** Input pixels of context each tile needs on every side for an exact result. */
  readonly halo: number;
  /** Output size / input size: 1 in the trunk, the network's scale for the tail. */
  readonly scale: number;
  /** Multiply-adds per input pixel (for progress and cost). */
  readonly macs: number;
  /** Peak channels alive inside one run, weighted by scale², per input pixel (memory estimate). */
  readonly liveChannels: number;
}

export interface SegmentPlan {
  readonly segments: readonly Segment[];
  /** The network input and output names. */
  readonly input: string;
  readonly output: string;
  /** Network scale. */
  readonly scale: number;
  /** Most channels held whole between segments at once (they are at 1×). */
  readonly storedChannels: number;
  /** Sum of the segments' halos: the exact receptive radius of the whole network, input px. */
  readonly totalHalo: number;
}

export interface SegmentOptions {
  /** Keep adding trunk nodes to a segment until its halo reaches this many input px. */
  readonly targetHalo?: number;
}

const ELEMENTWISE = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Sigmoid',
  'Tanh',
  'Clip',
  'Identity',
  'Mul',
  'Add',
  'Sub',
  'Div',
  'Max',
  'Min',
  'Sum',
  'Pow',
]);

/** Nodes either side a trunk cut must hold the fewest channels among (see the cut rule). */
const CUT_WINDOW = 24;

interface Info {
  channels: number;
  /** Size relative to the network input. */
  scale: number;
}

/** Why a graph cannot be segmented, or its plan. */
export function segmentGraph(bytes: Uint8Array, options: SegmentOptions = {}): SegmentPlan | string {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph || (graph.input ?? []).length !== 1 || (graph.output ?? []).length !== 1)
    return 'not a one-input, one-output graph';
  const initializers = new Map<string, Tensor>((graph.initializer ?? []).map((t) => [t.name!, t]));
  // An int8 graph (src/models/onnx/qdq.ts) dequantizes its weights in DequantizeLinear nodes of
  // initializers: their outputs are constants, with the shape of the quantized tensor.
  const constants = new Map<string, Node>();
  const inits = new Map(initializers);
  for (const n of graph.node ?? []) {
    const ins = (n.input ?? []).filter((i) => i !== '');
    if (n.opType === 'DequantizeLinear' && ins.length > 0 && ins.every((i) => inits.has(i))) {
      constants.set(n.output![0]!, n);
      inits.set(n.output![0]!, inits.get(ins[0]!)!);
    }
  }
  const nodes = (graph.node ?? []).filter((n) => !constants.has(n.output?.[0] ?? ''));
  const inputName = graph.input![0]!.name!;
  const outputName = graph.output![0]!.name!;
  const inputDims = graph.input![0]!.type?.tensorType?.shape?.dim ?? [];
  const info = new Map<string, Info>([
    [inputName, { channels: Number(inputDims[1]?.dimValue ?? 3), scale: 1 }],
  ]);
  const macs = new Map<Node, number>();

  // Shapes: channels and scale of every value.
  for (const n of nodes) {
    const op = n.opType ?? '';
    const ins = (n.input ?? []).filter((i) => i !== '' && !inits.has(i));
    const infos = ins.map((i) => info.get(i));
    if (infos.some((i) => i === undefined)) return `${n.name}: an input is not produced before it is read`;
    const x = infos as Info[];
    if ((n.output ?? []).length !== 1) return `${n.name}: ${op} with ${(n.output ?? []).length} outputs`;
    let out: Info;
    if (op === 'Conv') {
      const w = inits.get(n.input![1]!);
      if (!w || x.length !== 1) return `${n.name}: Conv weights are not an initializer`;
      const [cout, cinPerGroup, kh, kw] = (w.dims ?? []).map(Number) as [number, number, number, number];
      const why = convReach(n, kh, kw);
      if (typeof why === 'string') return `${n.name}: ${why}`;
      out = { channels: cout, scale: x[0]!.scale };
      macs.set(n, cout * cinPerGroup * kh * kw * x[0]!.scale ** 2);
    } else if (ELEMENTWISE.has(op) || op === 'QuantizeLinear' || op === 'DequantizeLinear') {
      if (x.length === 0) return `${n.name}: ${op} of constants only`;
      if (x.some((i) => i.scale !== x[0]!.scale)) return `${n.name}: ${op} of values at different scales`;
      out = { channels: Math.max(...x.map((i) => i.channels)), scale: x[0]!.scale };
    } else if (op === 'Concat') {
      if (attr(n, 'axis') !== 1 || x.some((i) => i.scale !== x[0]!.scale))
        return `${n.name}: Concat off channels`;
      out = { channels: x.reduce((s, i) => s + i.channels, 0), scale: x[0]!.scale };
    } else if (op === 'Resize') {
      const s = resizeScale(n, inits);
      if (s === undefined || x.length !== 1) return `${n.name}: Resize without constant square scales`;
      out = { channels: x[0]!.channels, scale: x[0]!.scale * s };
    } else if (op === 'DepthToSpace') {
      const b = Number(attr(n, 'blocksize'));
      out = { channels: x[0]!.channels / (b * b), scale: x[0]!.scale * b };
    } else {
      return `${n.name}: ${op} is not analysed`;
    }
    info.set(n.output![0]!, out);
  }
  const final = info.get(outputName);
  if (!final) return 'the output is not produced';

  // Trunk: nodes at 1× whose inputs all come from the trunk; tail: the rest, in order.
  const trunk: Node[] = [];
  const tail: Node[] = [];
  const inTail = new Set<string>();
  for (const n of nodes) {
    const o = n.output![0]!;
    const reads = (n.input ?? []).filter((i) => i !== '' && !inits.has(i));
    if (info.get(o)!.scale === 1 && !reads.some((i) => inTail.has(i))) trunk.push(n);
    else {
      tail.push(n);
      inTail.add(o);
    }
  }
  if (tail.some((n) => info.get(n.output![0]!)!.scale < 1)) return 'a value below 1× in the tail';
  const order = [...trunk, ...tail];
  const lastUse = new Map<string, number>();
  order.forEach((n, i) => {
    for (const v of n.input ?? []) if (!inits.has(v)) lastUse.set(v, i);
  });
  lastUse.set(outputName, Number.POSITIVE_INFINITY);
  // Values crossing the boundary after order[p] (produced at or before p, read after p).
  const producedAt = new Map<string, number>([[inputName, -1]]);
  for (const [i, n] of order.entries()) producedAt.set(n.output![0]!, i);
  const crossing = (p: number): string[] =>
    [...producedAt].filter(([v, at]) => at <= p && (lastUse.get(v) ?? -1) > p).map(([v]) => v);
  const channelsOf = (vs: readonly string[]) => vs.reduce((s, v) => s + info.get(v)!.channels, 0);

  // Cut the trunk once a segment's halo has reached the target, at a boundary that holds the
  // fewest channels within CUT_WINDOW nodes either side: x4plus crosses 128 channels between
  // RRDBs (51 nodes apart) and 192 between the RDBs inside one (17 apart), so it is cut
  // between RRDBs; a plain conv chain (x4fast) may be cut anywhere.
  const target = options.targetHalo ?? 8;
  const held = trunk.map((_, p) => channelsOf(crossing(p)));
  const localMin = (p: number) =>
    held.slice(Math.max(0, p - CUT_WINDOW), p + CUT_WINDOW + 1).every((c) => held[p]! <= c);
  // In an int8 graph, no segment boundary between a QuantizeLinear and its DequantizeLinear
  // (a uint8 value), nor between a Conv and the Q → DQ around it that make it a QLinearConv.
  // Only the readers after the boundary count: a value that crosses it (the trunk's first
  // feature map, which the last trunk Add reads back) may have fed a quantized Conv before it.
  // Counting every reader left int8 x4plus and rrdn-thick with no cut in the trunk at all.
  const producer = new Map(order.map((n) => [n.output![0]!, n]));
  const readers = new Map<string, number[]>();
  order.forEach((n, i) => {
    for (const v of n.input ?? []) readers.set(v, [...(readers.get(v) ?? []), i]);
  });
  const splitsQdq = (v: string, p: number): boolean => {
    const op = producer.get(v)?.opType;
    const read = (readers.get(v) ?? []).filter((i) => i > p).map((i) => order[i]!.opType);
    return (
      op === 'QuantizeLinear' ||
      (op === 'Conv' && read.includes('QuantizeLinear')) ||
      (op === 'DequantizeLinear' && read.includes('Conv'))
    );
  };
  const cuttable = (p: number) => !crossing(p).some((v) => splitsQdq(v, p));
  const cuts: number[] = [];
  let reach = new Map<string, number>();
  let segmentReach = 0;
  for (let p = 0; p < trunk.length; p++) {
    const r = nodeReach(trunk[p]!, reach, inits, info);
    reach.set(trunk[p]!.output![0]!, r);
    segmentReach = Math.max(segmentReach, r);
    const last = p === trunk.length - 1;
    if (last || (segmentReach >= target && localMin(p) && cuttable(p))) {
      cuts.push(p);
      reach = new Map();
      segmentReach = 0;
    }
  }

  const groups: { nodes: Node[]; start: number; end: number }[] = [];
  let start = 0;
  for (const c of cuts) {
    groups.push({ nodes: trunk.slice(start, c + 1), start, end: c });
    start = c + 1;
  }
  if (tail.length > 0) groups.push({ nodes: tail, start: trunk.length, end: order.length - 1 });

  const segments: Segment[] = [];
  let storedChannels = 0;
  for (const g of groups) {
    const produced = new Set(g.nodes.map((n) => n.output![0]!));
    const inputs = [
      ...new Set(
        g.nodes.flatMap((n) => (n.input ?? []).filter((v) => v !== '' && !inits.has(v) && !produced.has(v))),
      ),
    ];
    const outputs = [...produced].filter((v) => (lastUse.get(v) ?? -1) > g.end);
    // Halo: the largest reach of an output from the segment's inputs, in input pixels.
    const r = new Map<string, number>();
    for (const n of g.nodes) r.set(n.output![0]!, nodeReach(n, r, inits, info));
    const halo = Math.max(0, Math.ceil(Math.max(0, ...outputs.map((o) => r.get(o)!)) - 1e-9));
    const stored =
      channelsOf(crossing(g.start - 1)) + channelsOf(outputs.filter((o) => info.get(o)!.scale === 1));
    storedChannels = Math.max(storedChannels, stored);
    segments.push({
      onnx: subModel(model, g.nodes, inputs, outputs, initializers, constants, info),
      inputs: inputs.map((name) => ({ name, channels: info.get(name)!.channels })),
      outputs: outputs.map((name) => ({ name, channels: info.get(name)!.channels })),
      halo,
      scale: Math.max(1, ...outputs.map((o) => info.get(o)!.scale)),
      macs: g.nodes.reduce((s, n) => s + (macs.get(n) ?? 0), 0),
      liveChannels: liveChannels(g.nodes, inputs, outputs, info),
    });
  }
  const totals = segments.map((s) => s.halo);
  return {
    segments,
    input: inputName,
    output: outputName,
    scale: final.scale,
    storedChannels,
    totalHalo: totals.reduce((a, b) => a + b, 0),
  };
}

function attr(n: Node, name: string): number | number[] | string | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  if (!a) return undefined;
  if (a.ints && a.ints.length > 0) return a.ints.map(Number);
  if (a.s && a.s.length > 0) return new TextDecoder().decode(a.s);
  if (a.i !== undefined && a.i !== null) return Number(a.i);
  return undefined;
}

/** How far (input px of this value) a stride-1, size-preserving Conv reads on each side. */
function convReach(n: Node, kh: number, kw: number): number | string {
  const strides = (attr(n, 'strides') as number[] | undefined) ?? [1, 1];
  if (strides.some((s) => s !== 1)) return `stride ${strides.join('x')}`;
  const autoPad = attr(n, 'auto_pad');
  if (autoPad !== undefined && autoPad !== 'NOTSET') return `auto_pad ${autoPad}`;
  const d = (attr(n, 'dilations') as number[] | undefined) ?? [1, 1];
  const pads = (attr(n, 'pads') as number[] | undefined) ?? [0, 0, 0, 0];
  const spanH = d[0]! * (kh - 1);
  const spanW = d[1]! * (kw - 1);
  if (pads[0]! + pads[2]! !== spanH || pads[1]! + pads[3]! !== spanW) return 'not size-preserving';
  return Math.max(pads[0]!, pads[2]!, pads[1]!, pads[3]!);
}

function resizeScale(n: Node, inits: ReadonlyMap<string, Tensor>): number | undefined {
  const t = inits.get(n.input?.[2] ?? '');
  if (!t?.rawData) return undefined;
  const copy = new Uint8Array(t.rawData.byteLength);
  copy.set(t.rawData);
  const s = new Float32Array(copy.buffer);
  if (s.length !== 4 || s[0] !== 1 || s[1] !== 1 || s[2] !== s[3] || !(s[2]! >= 1)) return undefined;
  return s[2]!;
}

/** How far, in network-input pixels, `n`'s output reaches from the values `reach` does not know. */
function nodeReach(
  n: Node,
  reach: ReadonlyMap<string, number>,
  inits: ReadonlyMap<string, Tensor>,
  info: ReadonlyMap<string, Info>,
): number {
  const ins = (n.input ?? []).filter((v) => v !== '' && !inits.has(v));
  const from = Math.max(0, ...ins.map((v) => reach.get(v) ?? 0));
  const scale = info.get(ins[0]!)!.scale;
  if (n.opType === 'Conv') {
    const w = inits.get(n.input![1]!)!;
    const [, , kh, kw] = (w.dims ?? []).map(Number) as [number, number, number, number];
    return from + (convReach(n, kh, kw) as number) / scale;
  }
  if (n.opType === 'Resize') {
    // Nearest with asymmetric/floor coordinates reads only the pixel a tile's own grid maps to;
    // linear reads one neighbour, cubic two (in the resized value's input).
    const mode = attr(n, 'mode') ?? 'nearest';
    const exactNearest =
      mode === 'nearest' &&
      attr(n, 'coordinate_transformation_mode') === 'asymmetric' &&
      (attr(n, 'nearest_mode') ?? 'round_prefer_floor') === 'floor';
    return from + (exactNearest ? 0 : mode === 'cubic' ? 2 : 1) / scale;
  }
  return from;
}

/** Peak channels (× scale²) alive while a segment runs, walking its nodes in order. */
function liveChannels(
  nodes: readonly Node[],
  inputs: readonly string[],
  outputs: readonly string[],
  info: ReadonlyMap<string, Info>,
): number {
  const weight = (v: string) => info.get(v)!.channels * info.get(v)!.scale ** 2;
  const last = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const v of n.input ?? []) last.set(v, i);
  });
  const keep = new Set(outputs);
  const live = new Set(inputs);
  let peak = [...live].reduce((s, v) => s + weight(v), 0);
  nodes.forEach((n, i) => {
    live.add(n.output![0]!);
    peak = Math.max(
      peak,
      [...live].reduce((s, v) => s + weight(v), 0),
    );
    for (const v of [...live]) if (!keep.has(v) && (last.get(v) ?? -1) <= i) live.delete(v);
  });
  return peak;
}

function subModel(
  model: onnxProto.onnx.ModelProto,
  nodes: readonly Node[],
  inputs: readonly string[],
  outputs: readonly string[],
  inits: ReadonlyMap<string, Tensor>,
  constants: ReadonlyMap<string, Node>,
  info: ReadonlyMap<string, Info>,
): Uint8Array {
  const dequantized = [
    ...new Set(nodes.flatMap((n) => (n.input ?? []).flatMap((v) => constants.get(v) ?? []))),
  ];
  const used = new Set([...dequantized, ...nodes].flatMap((n) => n.input ?? []));
  const valueInfo = (name: string, side: 'in' | 'out') => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: {
          dim: [
            { dimValue: 1 },
            { dimValue: info.get(name)!.channels },
            { dimParam: `${side}_h` },
            { dimParam: `${side}_w` },
          ],
        },
      },
    },
  });
  const sub = onnx.ModelProto.create({
    irVersion: model.irVersion,
    opsetImport: model.opsetImport,
    producerName: model.producerName,
    graph: {
      name: 'segment',
      node: [...dequantized, ...nodes],
      input: inputs.map((v) => valueInfo(v, 'in')),
      output: outputs.map((v) => valueInfo(v, 'out')),
      initializer: [...inits.values()].filter((t) => used.has(t.name!)),
    },
  });
  return onnx.ModelProto.encode(sub).finish();
}
