/**
 * Activation equalization before int8 quantization (issue 12). In a chain Conv₁ → act → Conv₂
 * where act is positive-homogeneous (Relu, LeakyRelu, PRelu: act(s·x) = s·act(x) for s > 0),
 * scaling output channel c of Conv₁ by s_c and input channel c of Conv₂ by 1/s_c leaves the
 * network's function unchanged but evens out the per-channel ranges of the two activations
 * that get one per-tensor uint8 scale each: a channel whose values stay within 1/10 of the
 * tensor's range no longer gets only 1/10 of the 256 levels.
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

/** The graph with Conv₁'s output channels × scales[first] and Conv₂'s input channels ÷ them. */
export function equalize(
  bytes: Uint8Array,
  pairs: readonly ConvPair[],
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
  for (const p of pairs) {
    const s = scales.get(p.first);
    if (!s) continue;
    const [w1, b1] = [nodes.get(p.first)!.input![1]!, nodes.get(p.first)!.input?.[2]];
    const w2 = nodes.get(p.second)!.input![1]!;
    const [cout, cin1, kh1, kw1] = dimsOf(g.initializer[index.get(w1)!]!) as [number, number, number, number];
    const [cout2, cin2, kh2, kw2] = dimsOf(g.initializer[index.get(w2)!]!) as [
      number,
      number,
      number,
      number,
    ];
    if (s.length !== cout || cin2 !== cout)
      throw new RangeError(`${p.first} → ${p.second}: channels do not match`);
    const a = values(w1);
    const per1 = cin1 * kh1 * kw1;
    for (let c = 0; c < cout; c++) for (let i = c * per1; i < (c + 1) * per1; i++) a[i] = a[i]! * s[c]!;
    if (b1) {
      const b = values(b1);
      for (let c = 0; c < cout; c++) b[c] = b[c]! * s[c]!;
    }
    const w = values(w2);
    const k2 = kh2 * kw2;
    for (let o = 0; o < cout2; o++)
      for (let c = 0; c < cin2; c++)
        for (let k = 0; k < k2; k++) w[(o * cin2 + c) * k2 + k] = w[(o * cin2 + c) * k2 + k]! / s[c]!;
  }
  for (const [name, a] of arrays) {
    const t = g.initializer[index.get(name)!]!;
    g.initializer[index.get(name)!] = initializer(name, t.dataType!, dimsOf(t), a);
  }
  return encodeModel(model);
}
