/**
 * SPAN (Swift Parameter-free Attention Network, NTIRE 2024 efficient-SR winner), as spandrel
 * and the authors' code define it. Each Conv3XC is, at inference, one 3×3 conv whose weights
 * PyTorch re-derives on every forward from its three training convs (1×1 → 3×3 → 1×1) plus the
 * 1×1 skip; the stored `eval_conv` may be stale, so the fused weights are computed here the same
 * way. Input normalisation: (x − DIV2K mean) × 255 unless the file carries `no_norm`; the output
 * is not de-normalised (the network was trained that way).
 */

import { shuffleScale, TorchGraph } from '../torch-graph.js';
import type { Architecture, TorchTensor } from '../types.js';

const RGB_MEAN = [0.4488, 0.4371, 0.404];
const IMG_RANGE = 255;
const BLOCKS = 6;

export const span: Architecture = {
  id: 'span',
  name: 'SPAN',
  detect(sd) {
    const needed = [
      'conv_1.sk.weight',
      'block_1.c1_r.sk.weight',
      'block_1.c3_r.conv.2.weight',
      'conv_cat.weight',
      'conv_2.sk.weight',
      'upsampler.0.weight',
    ];
    if (!needed.every((k) => sd.has(k)) || !sd.has(`block_${BLOCKS}.c3_r.sk.weight`)) return undefined;
    const sk = sd.get('conv_1.sk.weight')!.shape;
    const up = sd.get('upsampler.0.weight')!.shape;
    const inCh = sk[1]!;
    const scale = shuffleScale(up[0]!, inCh);
    if (!scale) return undefined;
    const norm = !sd.has('no_norm');
    return {
      arch: 'span',
      variant: `SPAN ${sk[0]} ch${norm ? '' : ', no input normalisation'}`,
      scale,
      inputChannels: inCh,
      outputChannels: inCh,
      sizeMultiple: 1,
      params: { nf: sk[0]!, norm },
    };
  },
  build(sd, d) {
    const t = new TorchGraph(sd, 'span');
    let x = t.input(d.inputChannels);
    if (d.params.norm) {
      const mean = t.g.tensor('rgb_mean', Float32Array.from(RGB_MEAN.slice(0, d.inputChannels)), [
        1,
        d.inputChannels,
        1,
        1,
      ]);
      x = t.scaled(t.g.node('Sub', [x, mean]), IMG_RANGE);
    }
    const feat = conv3xc(t, x, 'conv_1');
    const outs: string[] = [];
    let h = feat;
    let b5second = '';
    for (let i = 1; i <= BLOCKS; i++) {
      const p = `block_${i}`;
      const o1 = conv3xc(t, h, `${p}.c1_r`);
      const o2 = conv3xc(t, silu(t, o1), `${p}.c2_r`);
      const o3 = conv3xc(t, silu(t, o2), `${p}.c3_r`);
      const att = t.g.node('Sub', [t.g.node('Sigmoid', [o3]), t.g.scalar('half', 0.5)]);
      h = t.mul(t.add(o3, h), att);
      outs.push(h);
      if (i === BLOCKS) b5second = o1;
    }
    const b6 = conv3xc(t, h, 'conv_2');
    const cat = t.g.node('Concat', [feat, b6, outs[0]!, b5second], { axis: 1 });
    const out = t.pixelShuffle(t.conv(t.conv(cat, 'conv_cat', 1), 'upsampler.0', 1), d.scale);
    return t.finish(out, d);
  },
};

function silu(t: TorchGraph, x: string): string {
  return t.mul(x, t.g.node('Sigmoid', [x]));
}

/** Conv3XC at inference: one 3×3 conv with weights fused from conv.0/1/2 and sk. */
function conv3xc(t: TorchGraph, x: string, p: string): string {
  const w1 = t.use(`${p}.conv.0.weight`);
  const b1 = t.use(`${p}.conv.0.bias`);
  const w2 = t.use(`${p}.conv.1.weight`);
  const b2 = t.use(`${p}.conv.1.bias`);
  const w3 = t.use(`${p}.conv.2.weight`);
  const b3 = t.use(`${p}.conv.2.bias`);
  const sk = t.use(`${p}.sk.weight`);
  const skb = t.use(`${p}.sk.bias`);
  const cin = w1.shape[1]!;
  const mid1 = w1.shape[0]!;
  const mid2 = w2.shape[0]!;
  const cout = w3.shape[0]!;
  // W12[m, i, y, x] = Σn W2[m, n, y, x]·W1[n, i];  b12[m] = Σ_{n,y,x} W2[m, n, y, x]·b1[n] + b2[m]
  const w12 = new Float64Array(mid2 * cin * 9);
  const b12 = new Float64Array(mid2);
  for (let m = 0; m < mid2; m++) {
    let bias = b2.data[m] ?? 0;
    for (let n = 0; n < mid1; n++) {
      for (let k = 0; k < 9; k++) bias += (w2.data[(m * mid1 + n) * 9 + k] ?? 0) * (b1.data[n] ?? 0);
    }
    b12[m] = bias;
    for (let i = 0; i < cin; i++) {
      for (let k = 0; k < 9; k++) {
        let sum = 0;
        for (let n = 0; n < mid1; n++)
          sum += (w2.data[(m * mid1 + n) * 9 + k] ?? 0) * (w1.data[n * cin + i] ?? 0);
        w12[(m * cin + i) * 9 + k] = sum;
      }
    }
  }
  // Wf[o, i] = Σm W3[o, m]·W12[m, i] + centre(sk);  bf[o] = Σm W3[o, m]·b12[m] + b3[o] + skb[o]
  const wf = new Float32Array(cout * cin * 9);
  const bf = new Float32Array(cout);
  const plane = cin * 9;
  for (let o = 0; o < cout; o++) {
    let bias = (b3.data[o] ?? 0) + (skb.data[o] ?? 0);
    for (let m = 0; m < mid2; m++) bias += (w3.data[o * mid2 + m] ?? 0) * (b12[m] ?? 0);
    bf[o] = bias;
    for (let j = 0; j < plane; j++) {
      let sum = j % 9 === 4 ? (sk.data[o * cin + (j - 4) / 9] ?? 0) : 0;
      for (let m = 0; m < mid2; m++) sum += (w3.data[o * mid2 + m] ?? 0) * (w12[m * plane + j] ?? 0);
      wf[o * plane + j] = sum;
    }
  }
  const weight: TorchTensor = { shape: [cout, cin, 3, 3], data: wf };
  return t.conv(x, `${p}.eval_conv`, 1, { weight, bias: { shape: [cout], data: bf }, pad: 1 });
}
