/**
 * SRVGGNetCompact (Real-ESRGAN "compact": realesr-general-x4v3, realesr-animevideov3, and many
 * community 1×–4× models): body.0 conv 3×3 in→nf, activation, then `num_conv` × (conv nf→nf,
 * activation), a last conv nf→out·r², PixelShuffle(r), plus the nearest-upsampled input.
 * The activation is PReLU (one slope per channel, `body.1.weight`) in the released models;
 * a file without slopes was trained with ReLU (`act_type='relu'`).
 */

import { seqLen, shuffleScale, TorchGraph } from '../torch-graph.js';
import type { Architecture } from '../types.js';

export const srvgg: Architecture = {
  id: 'srvgg',
  name: 'SRVGGNetCompact (Real-ESRGAN compact)',
  detect(sd) {
    const first = sd.get('body.0.weight')?.shape;
    if (first?.length !== 4 || sd.has('conv_first.weight')) return undefined;
    const len = seqLen(sd, 'body');
    const last = sd.get(`body.${len - 1}.weight`)?.shape;
    if (last?.length !== 4 || len < 3) return undefined;
    const prelu = sd.get('body.1.weight')?.shape.length === 1;
    // prelu: conv, act, (conv, act)×n, conv → 2n + 3 entries; relu: act modules hold no keys,
    // but the indices are the same.
    if ((len - 3) % 2 !== 0) return undefined;
    const numConv = (len - 3) / 2;
    for (let i = 0; i <= numConv; i++) if (!sd.has(`body.${2 * i}.weight`)) return undefined;
    const inCh = first[1]!;
    const nf = first[0]!;
    const scale = shuffleScale(last[0]!, inCh);
    if (!scale) return undefined;
    return {
      arch: 'srvgg',
      variant: `SRVGGNetCompact ${numConv} convs, ${nf} ch, ${prelu ? 'PReLU' : 'ReLU'}`,
      scale,
      inputChannels: inCh,
      outputChannels: inCh,
      sizeMultiple: 1,
      params: { numConv, nf, act: prelu ? 'prelu' : 'relu' },
    };
  },
  build(sd, d) {
    const t = new TorchGraph(sd, 'srvgg');
    const x = t.input(d.inputChannels);
    const numConv = d.params.numConv as number;
    const act = (v: string, i: number) =>
      d.params.act === 'prelu' ? t.prelu(v, `body.${i}.weight`) : t.relu(v);
    let h = act(t.conv(x, 'body.0', 1), 1);
    for (let i = 1; i <= numConv; i++) h = act(t.conv(h, `body.${2 * i}`, 1), 2 * i + 1);
    h = t.conv(h, `body.${2 * numConv + 2}`, 1);
    const out = t.add(t.pixelShuffle(h, d.scale), t.upNearest(x, d.scale));
    return t.finish(out, d);
  },
};
