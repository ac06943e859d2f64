/**
 * Activation equalization before int8 quantization (issue 12). In a chain Conv₁ → act → Conv₂
 * where act is positive-homogeneous (Relu, LeakyRelu, PRelu: act(s·x) = s·act(x) for s > 0),
 * scaling output channel c of Conv₁ by s_c and input channel c of Conv₂ by 1/s_c leaves the
 * network's function unchanged but evens out the per-channel ranges of the two activations
 * that get one per-tensor uint8 scale each: a channel whose values stay within 1/10 of the
 * tensor's range no longer gets only 1/10 of the 256 levels.
 *
 * The same holds when act's output reaches Conv₂ through a Concat (channel axis): input
 * channels offset..offset+C of Conv₂ are act's. In x4plus's dense blocks each conv_i's
 * LeakyReLU output is joined with the trunk, whose range (±1–6) is 3–5× smaller than the
 * later conv_i's (up to 25): one scale for the joined tensor leaves the trunk few levels.
 * Scaling those channels down to the trunk's range (`concatJoins`) took x4plus int8 from 38.02
 * to 40.35 dB against fp32 with min/max ranges (docs/int8.md).
 */
import { decodeModel, dimsOf, encodeModel, floatsOf, graphOf, initializer } from './qdq.js';

const HOMOGENEOUS = new Set(['Relu', 'LeakyRelu', 'PRelu']);

export interface ConvPair {
  /** Conv₁ node name; its output is the one whose channels are scaled. */
  readonly first: string;
  readonly firstOutput: string;
  /** Conv₂ node name. */
  readonly second: string;
}

/** Conv → act → Conv chains where each value has exactly one reader and no Conv is grouped. */
export function equalizablePairs(bytes: Uint8Array): ConvPair[] {
  const g = graphOf(decodeModel(bytes));
  const inits = new Set(g.initializer.map((t) => t.name ?? ''));
  const readers = new Map<string, number>();
  for (const n of g.node) for (const v of n.input ?? []) readers.set(v, (readers.get(v) ?? 0) + 1);
  for (const o of g.output ?? []) readers.set(o.name ?? '', (readers.get(o.name ?? '') ?? 0) + 1);
  const byInput = new Map(g.node.map((n) => [n.input?.[0] ?? '', n]));
  const plainConv = (n: (typeof g.node)[number] | undefined) =>
    n?.opType === 'Conv' &&
    inits.has(n.input?.[1] ?? '') &&
    (!n.input?.[2] || inits.has(n.input[2])) &&
    !(n.attribute ?? []).some((a) => a.name === 'group' && Number(a.i) !== 1);
  const pairs: ConvPair[] = [];
  for (const n of g.node) {
    if (!plainConv(n)) continue;
    const out = n.output![0]!;
    const act = byInput.get(out);
    if (!act || !HOMOGENEOUS.has(act.opType ?? '') || readers.get(out) !== 1) continue;
    // PRelu's slope must be a constant; it is per channel or shared, either way unchanged.
    if (act.opType === 'PRelu' && !inits.has(act.input?.[1] ?? '')) continue;
    const next = byInput.get(act.output![0]!);
    if (!plainConv(next) || readers.get(act.output![0]!) !== 1) continue;
    pairs.push({ first: n.name!, firstOutput: out, second: next!.name! });
  }
  return pairs;
}

/**
 * A Conv → act whose output only Concats read, joining it with other values; the Convs that
 * read those Concats see its channels at `offset`.
 */
export interface ConcatJoin {
  /** The Conv node; its output channels are scaled. */
  readonly first: string;
  readonly firstOutput: string;
  readonly readers: readonly { readonly conv: string; readonly offset: number }[];
  /** The values joined with it that no such Conv → act makes (x4plus: the trunk). */
  readonly joined: readonly string[];
}

/**
 * Conv → act → Concat(s) → Conv chains where every Concat input's channel count is known (from
 * its Conv's weights, or one input per Concat as what the reader's weights leave over).
 */
export function concatJoins(bytes: Uint8Array): ConcatJoin[] {
  const g = graphOf(decodeModel(bytes));
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  const readers = new Map<string, (typeof g.node)[number][]>();
  for (const n of g.node) for (const v of n.input ?? []) readers.set(v, [...(readers.get(v) ?? []), n]);
  const graphOutputs = new Set((g.output ?? []).map((o) => o.name ?? ''));
  const producer = new Map(g.node.map((n) => [n.output?.[0] ?? '', n]));
  const plainConv = (n: (typeof g.node)[number] | undefined) =>
    n?.opType === 'Conv' &&
    inits.has(n.input?.[1] ?? '') &&
    (!n.input?.[2] || inits.has(n.input[2])) &&
    !(n.attribute ?? []).some((a) => a.name === 'group' && Number(a.i) !== 1);
  const channelAxis = (n: (typeof g.node)[number]) =>
    [1, -3].includes(Number((n.attribute ?? []).find((a) => a.name === 'axis')?.i ?? 0));
  /** Channels of a Conv → act output, or undefined for anything else. */
  const convActChannels = (v: string): number | undefined => {
    const act = producer.get(v);
    if (!act || !HOMOGENEOUS.has(act.opType ?? '')) return undefined;
    const conv = producer.get(act.input?.[0] ?? '');
    return plainConv(conv) ? dimsOf(inits.get(conv!.input![1]!)!)[0] : undefined;
  };
  const joins: ConcatJoin[] = [];
  for (const n of g.node) {
    if (!plainConv(n)) continue;
    const out = n.output![0]!;
    const act = readers.get(out);
    if (act?.length !== 1 || !HOMOGENEOUS.has(act[0]!.opType ?? '') || graphOutputs.has(out)) continue;
    if (act[0]!.opType === 'PRelu' && !inits.has(act[0]!.input?.[1] ?? '')) continue;
    const actOut = act[0]!.output![0]!;
    const concats = readers.get(actOut) ?? [];
    if (concats.length === 0 || graphOutputs.has(actOut)) continue;
    const found: { conv: string; offset: number }[] = [];
    const joined = new Set<string>();
    const ok = concats.every((c) => {
      if (c.opType !== 'Concat' || !channelAxis(c) || graphOutputs.has(c.output![0]!)) return false;
      const convs = readers.get(c.output![0]!) ?? [];
      if (convs.length === 0 || !convs.every((r) => plainConv(r) && r.input![0] === c.output![0]))
        return false;
      const known = c.input!.map(convActChannels);
      const unknown = known.filter((k) => k === undefined).length;
      if (unknown > 1 || c.input!.filter((v) => v === actOut).length !== 1) return false;
      for (const [i, v] of c.input!.entries()) if (known[i] === undefined) joined.add(v);
      for (const r of convs) {
        const cin = dimsOf(inits.get(r.input![1]!)!)[1]!;
        const rest = cin - known.reduce<number>((a, k) => a + (k ?? 0), 0);
        if (rest < 0 || (unknown === 0 && rest !== 0)) return false;
        let offset = 0;
        for (const [i, v] of c.input!.entries()) {
          if (v === actOut) break;
          offset += known[i] ?? rest;
        }
        found.push({ conv: r.name!, offset });
      }
      return true;
    });
    if (ok && joined.size > 0)
      joins.push({ first: n.name!, firstOutput: out, readers: found, joined: [...joined] });
  }
  return joins;
}

/** The graph with Conv₁'s output channels × scales[first] and Conv₂'s input channels ÷ them. */
export function equalize(
  bytes: Uint8Array,
  pairs: readonly ConvPair[],
  scales: ReadonlyMap<string, Float32Array>,
): Uint8Array {
  return rescale(
    bytes,
    pairs.map((p) => ({ first: p.first, readers: [{ conv: p.second, offset: 0 }] })),
    scales,
  );
}

/** The graph with each join's Conv output channels × scales[first] and its readers' input channels ÷ them. */
export function equalizeJoins(
  bytes: Uint8Array,
  joins: readonly ConcatJoin[],
  scales: ReadonlyMap<string, Float32Array>,
): Uint8Array {
  return rescale(bytes, joins, scales);
}

function rescale(
  bytes: Uint8Array,
  items: readonly { first: string; readers: readonly { conv: string; offset: number }[] }[],
  scales: ReadonlyMap<string, Float32Array>,
): Uint8Array {
  const model = decodeModel(bytes);
  const g = graphOf(model);
  const nodes = new Map(g.node.map((n) => [n.name ?? '', n]));
  const index = new Map(g.initializer.map((t, i) => [t.name ?? '', i]));
  const arrays = new Map<string, Float32Array>();
  const values = (name: string) => {
    let a = arrays.get(name);
    if (!a) {
      a = floatsOf(g.initializer[index.get(name)!]!);
      arrays.set(name, a);
    }
    return a;
  };
  for (const p of items) {
    const s = scales.get(p.first);
    if (!s) continue;
    const [w1, b1] = [nodes.get(p.first)!.input![1]!, nodes.get(p.first)!.input?.[2]];
    const [cout, cin1, kh1, kw1] = dimsOf(g.initializer[index.get(w1)!]!) as [number, number, number, number];
    if (s.length !== cout) throw new RangeError(`${p.first}: ${s.length} scales for ${cout} channels`);
    const a = values(w1);
    const per1 = cin1 * kh1 * kw1;
    for (let c = 0; c < cout; c++) for (let i = c * per1; i < (c + 1) * per1; i++) a[i] = a[i]! * s[c]!;
    if (b1) {
      const b = values(b1);
      for (let c = 0; c < cout; c++) b[c] = b[c]! * s[c]!;
    }
    for (const r of p.readers) {
      const w2 = nodes.get(r.conv)!.input![1]!;
      const [cout2, cin2, kh2, kw2] = dimsOf(g.initializer[index.get(w2)!]!) as [
        number,
        number,
        number,
        number,
      ];
      if (r.offset + cout > cin2) throw new RangeError(`${p.first} → ${r.conv}: channels do not match`);
      const w = values(w2);
      const k2 = kh2 * kw2;
      for (let o = 0; o < cout2; o++)
        for (let c = 0; c < cout; c++)
          for (let k = 0; k < k2; k++) {
            const i = (o * cin2 + r.offset + c) * k2 + k;
            w[i] = w[i]! / s[c]!;
          }
    }
  }
  for (const [name, a] of arrays) {
    const t = g.initializer[index.get(name)!]!;
    g.initializer[index.get(name)!] = initializer(name, t.dataType!, dimsOf(t), a);
  }
  return encodeModel(model);
}
