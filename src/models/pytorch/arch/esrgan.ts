/**
 * ESRGAN / RRDBNet (Wang et al. 2018), the network behind most community upscalers
 * (4x-UltraSharp, Remacri, NMKD, BSRGAN, Real-ESRGAN x4plus/x2plus, …), in the three key
 * layouts in circulation:
 *
 *   old ESRGAN      model.0 · model.1.sub.{b}.RDB{j}.conv{k}.0 · model.1.sub.{nb} · model.{3,6,…} · hr · last
 *   ESRGAN (new)    conv_first · RRDB_trunk.{b}.RDB{j}.conv{k} · trunk_conv · upconv{n} · HRconv · conv_last
 *   BasicSR         conv_first · body.{b}.rdb{j}.conv{k} · conv_body · conv_up{n} · conv_hr · conv_last
 *
 * Forward: feat = conv_first(x); body of RRDBs (each three residual dense blocks, five 3×3
 * convs with LeakyReLU 0.2 on the first four, `x5·0.2 + x`, and `rdb3·0.2 + x` round the three);
 * feat += trunk(body); per 2× a nearest upsample, conv, LeakyReLU; conv_last(lrelu(hr(feat))).
 * Real-ESRGAN's 2× and 1× models feed the body pixel-unshuffled input (2 and 4): their first
 * conv takes 4× or 16× the output channels. The input is reflect-padded to that multiple at the
 * bottom/right and the output cropped back (as spandrel and RealESRGANer do).
 */

import { TorchGraph } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict, TorchTensor } from '../types.js';

type Layout = 'old' | 'esrgan' | 'basicsr';

interface Names {
  first: string;
  conv(block: number, rdb: number, conv: number): string;
  trunk(blocks: number): string;
  ups: string[];
  hr: string;
  last: string;
}

function names(sd: StateDict, layout: Layout): Names | undefined {
  if (layout === 'old') {
    const idx = [...sd.keys()]
      .map((k) => /^model\.(\d+)\.weight$/.exec(k))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .filter((n) => n >= 2)
      .sort((a, b) => a - b);
    if (idx.length < 2) return undefined;
    return {
      first: 'model.0',
      conv: (b, j, k) => `model.1.sub.${b}.RDB${j}.conv${k}.0`,
      trunk: (nb) => `model.1.sub.${nb}`,
      ups: idx.slice(0, -2).map((n) => `model.${n}`),
      hr: `model.${idx[idx.length - 2]}`,
      last: `model.${idx[idx.length - 1]}`,
    };
  }
  const [block, rdb, trunk, up, hr] =
    layout === 'esrgan'
      ? ['RRDB_trunk', 'RDB', 'trunk_conv', 'upconv', 'HRconv']
      : ['body', 'rdb', 'conv_body', 'conv_up', 'conv_hr'];
  const ups: string[] = [];
  for (let n = 1; sd.has(`${up}${n}.weight`); n++) ups.push(`${up}${n}`);
  return {
    first: 'conv_first',
    conv: (b, j, k) => `${block}.${b}.${rdb}${j}.conv${k}`,
    trunk: () => trunk,
    ups,
    hr,
    last: 'conv_last',
  };
}

function layoutOf(sd: StateDict): Layout | undefined {
  if (sd.has('model.0.weight') && sd.has('model.1.sub.0.RDB1.conv1.0.weight')) return 'old';
  if (sd.has('conv_first.weight') && sd.has('RRDB_trunk.0.RDB1.conv1.weight') && sd.has('trunk_conv.weight'))
    return 'esrgan';
  if (sd.has('conv_first.weight') && sd.has('body.0.rdb1.conv1.weight') && sd.has('conv_body.weight'))
    return 'basicsr';
  return undefined;
}

function countBlocks(sd: StateDict, n: Names): number {
  let nb = 0;
  while (sd.has(`${n.conv(nb, 1, 1)}.weight`)) nb++;
  return nb;
}

export const esrgan: Architecture = {
  id: 'esrgan',
  name: 'ESRGAN (RRDBNet)',
  detect(sd) {
    const layout = layoutOf(sd);
    if (!layout) return undefined;
    const n = names(sd, layout);
    if (!n) return undefined;
    const first = sd.get(`${n.first}.weight`)?.shape;
    const last = sd.get(`${n.last}.weight`)?.shape;
    const gcShape = sd.get(`${n.conv(0, 1, 1)}.weight`)?.shape;
    if (first?.length !== 4 || last?.length !== 4 || gcShape?.length !== 4) return undefined;
    const blocks = countBlocks(sd, n);
    if (blocks === 0 || !sd.has(`${n.trunk(blocks)}.weight`) || !sd.has(`${n.hr}.weight`)) return undefined;
    const inCh = first[1]!;
    const outCh = last[0]!;
    const shuffle = inCh === outCh * 16 ? 4 : inCh === outCh * 4 ? 2 : 1;
    const bodyScale = 2 ** n.ups.length;
    if (bodyScale % shuffle !== 0) return undefined;
    const scale = bodyScale / shuffle;
    const nf = first[0]!;
    const gc = gcShape[0]!;
    const inputChannels = inCh / (shuffle * shuffle);
    return {
      arch: 'esrgan',
      variant: `RRDBNet ${blocks} blocks, ${nf} ch${shuffle > 1 ? `, pixel-unshuffle ${shuffle}` : ''} (${layout === 'old' ? 'old ESRGAN' : layout === 'esrgan' ? 'ESRGAN' : 'BasicSR'} keys)`,
      scale,
      inputChannels,
      outputChannels: outCh,
      sizeMultiple: shuffle,
      params: { layout, blocks, nf, gc, upsamples: n.ups.length, shuffle },
    } satisfies ArchDetection;
  },
  build(sd, d) {
    const layout = d.params.layout as Layout;
    const n = names(sd, layout)!;
    const blocks = d.params.blocks as number;
    const shuffle = d.params.shuffle as number;
    const t = new TorchGraph(sd, 'esrgan');
    const x = t.input(d.inputChannels);
    let feat: string;
    if (shuffle > 1) {
      // pixel_unshuffle = SpaceToDepth with PyTorch's channel order c·r² + k; SpaceToDepth gives
      // k·C + c. Permute conv_first's input channels instead of the tensor (free at run time).
      const padded = t.padToMultiple(x, shuffle);
      const s2d = t.g.node('SpaceToDepth', [padded], { blocksize: shuffle });
      const w = t.t(`${n.first}.weight`);
      feat = t.conv(s2d, n.first, 1 / shuffle, {
        weight: permuteUnshuffle(w, d.inputChannels, shuffle),
      });
    } else {
      feat = t.conv(x, n.first, 1);
    }
    const s = 1 / shuffle; // the body's resolution relative to the input
    let body = feat;
    for (let b = 0; b < blocks; b++) {
      const rrdbIn = body;
      let h = body;
      for (let j = 1; j <= 3; j++) {
        const rdbIn = h;
        const outs = [rdbIn];
        let x5 = '';
        for (let k = 1; k <= 5; k++) {
          const cat = outs.length === 1 ? outs[0]! : t.g.node('Concat', outs, { axis: 1 });
          const c = t.conv(cat, n.conv(b, j, k), s);
          if (k < 5) outs.push(t.lrelu(c, 0.2));
          else x5 = c;
        }
        h = t.axpy(x5, 0.2, rdbIn);
      }
      body = t.axpy(h, 0.2, rrdbIn);
    }
    feat = t.add(feat, t.conv(body, n.trunk(blocks), s));
    let scale = s;
    for (const up of n.ups) {
      scale *= 2;
      feat = t.lrelu(t.conv(t.upNearest(feat, 2), up, scale), 0.2);
    }
    let out = t.conv(t.lrelu(t.conv(feat, n.hr, scale), 0.2), n.last, scale);
    if (shuffle > 1) out = t.cropTo(out, x, d.scale);
    return t.finish(out, d);
  },
};

/** Reorder a conv weight's input channels from pixel_unshuffle order to SpaceToDepth order. */
function permuteUnshuffle(w: TorchTensor, channels: number, r: number): TorchTensor {
  const [cout, cin, kh, kw] = w.shape as [number, number, number, number];
  const k2 = r * r;
  const plane = kh * kw;
  const out = new Float32Array(w.data.length);
  for (let o = 0; o < cout; o++) {
    for (let c = 0; c < channels; c++) {
      for (let k = 0; k < k2; k++) {
        const from = (o * cin + c * k2 + k) * plane;
        const to = (o * cin + k * channels + c) * plane;
        out.set(w.data.subarray(from, from + plane), to);
      }
    }
  }
  return { shape: w.shape, data: out };
}
