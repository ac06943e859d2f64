/**
 * Shifted-window attention for the Swin family (SwinIR, HAT): padding to a window multiple,
 * window partition/reverse, cyclic shift, relative-position bias and the shift mask, on graphs
 * whose H and W are only known at run time.
 *
 * Layout: the token stream is 2-D, [Hp·Wp, C] (PyTorch's [B, H·W, C] for B = 1), so LayerNorm
 * acts on the last axis and every Linear is one Gemm with its bias fused, without a Transpose;
 * rolls view it as [Hp, Wp, C] and only the convolutions between blocks go through NCHW.
 *
 * The shift mask is exact for every size without computing it per pixel in the graph: in the
 * reference (`calculate_mask`), the image is cut into three bands per axis at −ws and −shift,
 * so only the last row and the last column of windows straddle a band boundary, and a window's
 * mask depends only on whether it is in the last row and/or last column. The four [N, N] masks
 * are constants computed here; the graph picks one per window from Range(nWh) == nWh−1 and
 * Range(nWw) == nWw−1 (a Gather), which costs nothing next to the attention itself.
 */
import { DataType, type GraphBuilder } from '../../onnx/builder.js';
import {
  concat,
  gelu,
  gemm,
  type Int64Value,
  intOp,
  layerNorm,
  type ParamCounter,
  reshape,
  roll,
  shapeOf,
  shapeVector,
  transpose,
  type WeightTensor,
} from '../../onnx/ops.js';
import type { StateDict, TorchTensor } from '../types.js';
import { need } from './keys.js';

/** The dynamic sizes of a windowed graph, as int64 [1] tensors. */
export interface WindowGrid {
  /** Window side for square windows (SwinIR, HAT). */
  readonly ws: number;
  /** Window height and width (DAT's rectangles; both ws for square windows). */
  readonly wh: number;
  readonly ww: number;
  /** Input height and width. */
  readonly h: Int64Value;
  readonly w: Int64Value;
  /** Padded to a multiple of the window. */
  readonly hp: Int64Value;
  readonly wp: Int64Value;
  /** Windows per column and per row. */
  readonly nWh: Int64Value;
  readonly nWw: Int64Value;
}

/**
 * Reflect-pads `x` [1, C, H, W] on the bottom and right to a multiple of `ws`, as SwinIR's
 * `check_image_size` does: `F.pad(x, (0, (ws − W % ws) % ws, 0, (ws − H % ws) % ws), 'reflect')`
 * (OmniSR: zeros). `minSide` raises the padded size for networks with a minimum (OmniSR's ESA).
 */
export function padToWindows(
  g: GraphBuilder,
  x: string,
  ws: number,
  mode: 'reflect' | 'constant' = 'reflect',
  minSide = 0,
): { padded: string; grid: WindowGrid } {
  const h = shapeOf(g, x, 2, 3, 'in_h');
  const w = shapeOf(g, x, 3, 4, 'in_w');
  const padAmount = (side: Int64Value, name: string) => {
    const toMultiple = intOp(
      g,
      'Mod',
      intOp(g, 'Sub', g.int64s(`${name}.ws`, [ws]), intOp(g, 'Mod', side, ws, `${name}_r`), `${name}_d`),
      ws,
      `${name}_multiple`,
    );
    if (minSide <= 0) return toMultiple;
    // max(side + toMultiple, minSide) − side; minSide is a multiple of ws, so the sum stays one.
    const target = g.node(
      'Max',
      [intOp(g, 'Add', side, toMultiple, `${name}_padded`), g.int64s(`${name}.min`, [minSide])],
      {},
      `${name}_target`,
    );
    return intOp(g, 'Sub', target, side, name);
  };
  const padH = padAmount(h, 'pad_h');
  const padW = padAmount(w, 'pad_w');
  const padded =
    mode === 'reflect'
      ? reflectPad(g, x, { h, w }, [0, 0, padH, padW], 'pad')
      : g.node('Pad', [x, shapeVector(g, [0, 0, 0, 0, 0, 0, padH, padW], 'pads')], { mode }, 'pad_constant');
  const hp = intOp(g, 'Add', h, padH, 'hp');
  const wp = intOp(g, 'Add', w, padW, 'wp');
  return {
    padded,
    grid: {
      ws,
      wh: ws,
      ww: ws,
      h,
      w,
      hp,
      wp,
      nWh: intOp(g, 'Div', hp, ws, 'nwh'),
      nWw: intOp(g, 'Div', wp, ws, 'nww'),
    },
  };
}

/**
 * `F.pad(x, …, 'reflect')` of [1, C, H, W] by [top, left, bottom, right] (constants or int64
 * [1] values), extended to inputs too small to reflect: PyTorch (and onnxruntime) refuse a
 * reflect pad ≥ the side, so each side reflects min(pad, side − 1) and repeats the edge for the
 * rest. Identical to the reference wherever the reference runs; a 1×1 or 2×2 image gets an
 * output instead of an error.
 */
export function reflectPad(
  g: GraphBuilder,
  x: string,
  size: { h: Int64Value; w: Int64Value },
  pads: readonly [Int64Value | number, Int64Value | number, Int64Value | number, Int64Value | number],
  name: string,
): string {
  const hm1 = intOp(g, 'Sub', size.h, 1, `${name}_h_last`);
  const wm1 = intOp(g, 'Sub', size.w, 1, `${name}_w_last`);
  const amount = (p: Int64Value | number, label: string) =>
    typeof p === 'number' ? g.int64s(`${name}.${label}`, [p]) : p;
  const parts = pads.map((p, i) => {
    const total = amount(p, `p${i}`);
    const reflected = g.node('Min', [total, i % 2 === 0 ? hm1 : wm1], {}, `${name}_reflect${i}`);
    return { reflected, rest: intOp(g, 'Sub', total, reflected, `${name}_edge${i}`) };
  });
  const vector = (key: 'reflected' | 'rest', label: string) =>
    shapeVector(
      g,
      [0, 0, parts[0]![key], parts[1]![key], 0, 0, parts[2]![key], parts[3]![key]],
      `${name}_${label}`,
    );
  const reflected = g.node(
    'Pad',
    [x, vector('reflected', 'reflect_pads')],
    { mode: 'reflect' },
    `${name}_reflect`,
  );
  return g.node('Pad', [reflected, vector('rest', 'edge_pads')], { mode: 'edge' }, `${name}_edge`);
}

/** Crops [1, C, Hp·s, Wp·s] back to [1, C, H·s, W·s]. */
export function cropToInput(
  g: GraphBuilder,
  x: string,
  grid: Pick<WindowGrid, 'h' | 'w'>,
  scale: number,
): string {
  const ends = concat(
    g,
    [intOp(g, 'Mul', grid.h, scale, 'out_h'), intOp(g, 'Mul', grid.w, scale, 'out_w')],
    0,
    'crop_ends',
  );
  return g.node(
    'Slice',
    [x, g.int64s('crop.starts', [0, 0]), ends, g.int64s('crop.axes', [2, 3])],
    {},
    'crop',
  );
}

/**
 * Tokens [Hp·Wp, nH·d] → per-window heads, in one Transpose: [nW, nH, ws·ws, d]. Windows are in row-major order as in the
 * reference's `window_partition`; Linear layers act per token, so they run before this on the
 * whole image instead of after it on the windows.
 */
export function toWindowHeads(
  g: GraphBuilder,
  x: string,
  grid: WindowGrid,
  heads: number,
  d: number,
  name: string,
  dilated = false,
): string {
  const { wh, ww } = grid;
  if (dilated) {
    // OmniSR's grid attention: window (x, y) holds rows x, x + nWh, x + 2·nWh, … (and columns alike).
    const split = reshape(
      g,
      x,
      gridShape(g, grid, 'dsplit', [wh, grid.nWh, ww, grid.nWw, heads, d]),
      `${name}_split`,
    );
    const windows = transpose(g, split, [1, 3, 4, 0, 2, 5], `${name}_t`);
    return reshape(g, windows, [-1, heads, wh * ww, d], name);
  }
  const split = reshape(
    g,
    x,
    gridShape(g, grid, 'split', [grid.nWh, wh, grid.nWw, ww, heads, d]),
    `${name}_split`,
  );
  // [nWh, wh, nWw, ww, nH, d] → [nWh, nWw, nH, wh, ww, d]: runs of d floats move as a unit.
  const windows = transpose(g, split, [0, 2, 4, 1, 3, 5], `${name}_t`);
  return reshape(g, windows, [-1, heads, wh * ww, d], name);
}

/** Per-window heads [nW, nH, ws·ws, d] → tokens [Hp·Wp, nH·d] (`window_reverse`), one Transpose. */
export function fromWindowHeads(
  g: GraphBuilder,
  x: string,
  grid: WindowGrid,
  heads: number,
  d: number,
  name: string,
  dilated = false,
): string {
  const { wh, ww } = grid;
  const split = reshape(
    g,
    x,
    gridShape(g, grid, 'windows', [grid.nWh, grid.nWw, heads, wh, ww, d]),
    `${name}_split`,
  );
  // [nWh, nWw, nH, wh, ww, d] → [nWh, wh, nWw, ww, nH, d], or for dilated windows [wh, nWh, ww, nWw, nH, d].
  const image = transpose(g, split, dilated ? [3, 0, 4, 1, 2, 5] : [0, 3, 1, 4, 2, 5], `${name}_t`);
  return reshape(g, image, [-1, heads * d], name);
}

const shapeCache = new WeakMap<WindowGrid, Map<string, string>>();

/** One shape vector per distinct layout and grid, shared by every block that needs it. */
export function gridShape(
  g: GraphBuilder,
  grid: WindowGrid,
  label: string,
  parts: readonly (Int64Value | number)[],
): Int64Value {
  let cache = shapeCache.get(grid);
  if (!cache) {
    cache = new Map();
    shapeCache.set(grid, cache);
  }
  const key = `${label}:${parts.join(',')}`;
  let v = cache.get(key);
  if (!v) {
    v = shapeVector(g, parts, `shape_${label}`);
    cache.set(key, v);
  }
  return v;
}

/**
 * Softmax(q·kᵀ + bias [+ mask])·v over windows: q [nW, nH, N, d] (already scaled), k and v
 * [nW, nH, M, d], bias a constant [nH, N, M], mask [nW, 1, N, M].
 */
export function attend(
  g: GraphBuilder,
  q: string,
  k: string,
  v: string,
  bias: string | undefined,
  mask: string | undefined,
  name: string,
): string {
  // MatMul(q, Transpose(k)) is fused by onnxruntime into one FusedMatMul(transB): cheaper
  // than producing kᵀ in the window Transpose, which would move single floats instead of d-runs.
  const kT = transpose(g, k, [0, 1, 3, 2], `${name}_kT`);
  let scores = g.node('MatMul', [q, kT], {}, `${name}_scores`);
  if (bias) scores = g.node('Add', [scores, bias], {}, `${name}_bias`);
  if (mask) scores = g.node('Add', [scores, mask], {}, `${name}_mask`);
  const probs = g.node('Softmax', [scores], { axis: -1 }, `${name}_softmax`);
  return g.node('MatMul', [probs, v], {}, name);
}

/** Swin's relative-position index for a ws×ws window: (dy + ws−1)·(2ws−1) + (dx + ws−1). */
export function relativePositionIndex(ws: number): Int32Array {
  const n = ws * ws;
  const out = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / ws) - Math.floor(j / ws) + ws - 1;
      const dx = (i % ws) - (j % ws) + ws - 1;
      out[i * n + j] = dy * (2 * ws - 1) + dx;
    }
  }
  return out;
}

/**
 * The per-head bias `table[index]` laid out [nH, rows, cols] (the reference's
 * `relative_position_bias_table[index].view(rows, cols, nH).permute(2, 0, 1)`); gathered here at
 * build time, so the graph adds one constant. Negative indices wrap as PyTorch's indexing does.
 */
export function gatherBias(table: WeightTensor, index: Int32Array, rows: number, cols: number): Float32Array {
  const [entries, heads] = table.shape as [number, number];
  const out = new Float32Array(heads * rows * cols);
  for (let p = 0; p < rows * cols; p++) {
    let k = index[p]!;
    if (k < 0) k += entries;
    for (let h = 0; h < heads; h++) out[h * rows * cols + p] = table.data[k * heads + h]!;
  }
  return out;
}

/**
 * The shift mask for every window, [nW, 1, N, N] (0 inside a region, −100 across regions, as
 * the reference), picked from four constant cases; see the file comment. `shift` is the
 * vertical shift, `shiftW` the horizontal one (they differ for DAT's rectangles).
 */
export function shiftMask(
  g: GraphBuilder,
  grid: WindowGrid,
  shift: number,
  name: string,
  shiftW: number = shift,
): string {
  const { wh, ww } = grid;
  const n = wh * ww;
  const cases = new Float32Array(4 * n * n);
  const label = (p: number, lastRow: boolean, lastCol: boolean) => {
    const row = Math.floor(p / ww);
    const col = p % ww;
    const rowBand = lastRow ? (row < wh - shift ? 1 : 2) : 0;
    const colBand = lastCol ? (col < ww - shiftW ? 1 : 2) : 0;
    return 3 * rowBand + colBand;
  };
  for (let k = 0; k < 4; k++) {
    const lastRow = k >= 2;
    const lastCol = k % 2 === 1;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        cases[(k * n + i) * n + j] = label(i, lastRow, lastCol) === label(j, lastRow, lastCol) ? 0 : -100;
      }
    }
  }
  const scalar = (v: Int64Value, label: string) => g.node('Squeeze', [v], {}, `${name}_${label}`);
  const flag = (count: Int64Value, weight: number, axisName: string) => {
    const idx = g.node(
      'Range',
      [
        scalar(g.int64s(`${name}.zero`, [0]), `${axisName}_start`),
        scalar(count, `${axisName}_n`),
        scalar(g.int64s(`${name}.one`, [1]), `${axisName}_step`),
      ],
      {},
      `${name}_${axisName}_range`,
    );
    const last = intOp(g, 'Sub', count, 1, `${name}_${axisName}_last`);
    const eq = g.node('Equal', [idx, last], {}, `${name}_${axisName}_is_last`);
    const asInt = g.node('Cast', [eq], { to: DataType.INT64 }, `${name}_${axisName}_flag`);
    return weight === 1 ? asInt : intOp(g, 'Mul', asInt, weight, `${name}_${axisName}_weighted`);
  };
  const rows = g.node(
    'Unsqueeze',
    [flag(grid.nWh, 2, 'rows'), g.int64s(`${name}.axes`, [1])],
    {},
    `${name}_rows`,
  );
  const which = g.node('Add', [rows, flag(grid.nWw, 1, 'cols')], {}, `${name}_case`);
  const masks = g.node(
    'Gather',
    [g.tensor(`${name}.cases`, cases, [4, n, n]), which],
    { axis: 0 },
    `${name}_pick`,
  );
  return reshape(g, masks, [-1, 1, n, n], name);
}

/** Rows [from, to) of a Linear's [out, in] weight (or of a bias), times `scale`. */
export function rows(t: TorchTensor, from: number, to: number, scale = 1): WeightTensor {
  const inner = t.shape.length === 2 ? t.shape[1]! : 1;
  const data = t.data.slice(from * inner, to * inner);
  if (scale !== 1) for (let i = 0; i < data.length; i++) data[i]! *= scale;
  return { shape: t.shape.length === 2 ? [to - from, inner] : [to - from], data };
}

export interface WindowAttentionOptions {
  readonly grid: WindowGrid;
  readonly heads: number;
  readonly channels: number;
  /** Cyclic shift of this block (0 or ws/2). */
  readonly shift: number;
  /** The shift mask (required when shift > 0). */
  readonly mask?: string;
  readonly counter: ParamCounter;
}

/**
 * The reference's `WindowAttention` inside a (shifted) Swin block, from the LayerNorm output
 * [Hp·Wp, C] to the projected, un-shifted result [Hp·Wp, C] that the block adds to its
 * shortcut. Keys under `prefix`: qkv.weight/bias, proj.weight/bias, relative_position_bias_table.
 */
export function windowSelfAttention(
  g: GraphBuilder,
  sd: StateDict,
  normed: string,
  prefix: string,
  o: WindowAttentionOptions,
): string {
  const { grid, heads, channels: c, shift, counter } = o;
  const d = c / heads;
  const n = grid.ws * grid.ws;
  const qkvW = need(sd, `${prefix}.qkv.weight`, [3 * c, c]);
  const qkvB = sd.get(`${prefix}.qkv.bias`);
  const table = need(sd, `${prefix}.relative_position_bias_table`, [(2 * grid.ws - 1) ** 2, heads]);
  const scale = d ** -0.5;
  const shifted = rollTokens(g, normed, grid, c, -shift, `${prefix}_roll`);
  const project = (part: number, s: number, label: string) =>
    gemm(
      g,
      shifted,
      `${prefix}.${label}`,
      rows(qkvW, part * c, (part + 1) * c, s),
      qkvB && rows(qkvB, part * c, (part + 1) * c, s),
      counter,
    );
  const q = toWindowHeads(g, project(0, scale, 'q'), grid, heads, d, `${prefix}_q`);
  const k = toWindowHeads(g, project(1, 1, 'k'), grid, heads, d, `${prefix}_k`);
  const v = toWindowHeads(g, project(2, 1, 'v'), grid, heads, d, `${prefix}_v`);
  counter.params += table.data.length;
  counter.flopsPerInputPixel += 4 * n * c;
  const bias = g.tensor(`${prefix}.bias`, gatherBias(table, relativePositionIndex(grid.ws), n, n), [
    heads,
    n,
    n,
  ]);
  const out = attend(g, q, k, v, bias, shift > 0 ? o.mask : undefined, `${prefix}_attend`);
  const tokens = fromWindowHeads(g, out, grid, heads, d, `${prefix}_tokens`);
  const unshifted = rollTokens(g, tokens, grid, c, shift, `${prefix}_unroll`);
  return gemm(
    g,
    unshifted,
    `${prefix}.proj`,
    need(sd, `${prefix}.proj.weight`, [c, c]),
    sd.get(`${prefix}.proj.bias`),
    counter,
  );
}

/** `Mlp`: fc1 → GELU → fc2 over the last axis. */
export function mlp(
  g: GraphBuilder,
  sd: StateDict,
  x: string,
  prefix: string,
  counter: ParamCounter,
): string {
  const fc1 = need(sd, `${prefix}.fc1.weight`);
  const hidden = gemm(g, x, `${prefix}.fc1`, fc1, sd.get(`${prefix}.fc1.bias`), counter);
  const act = gelu(g, hidden, `${prefix}_gelu`);
  return gemm(
    g,
    act,
    `${prefix}.fc2`,
    need(sd, `${prefix}.fc2.weight`),
    sd.get(`${prefix}.fc2.bias`),
    counter,
  );
}

/** `nn.LayerNorm` from `prefix`.weight/bias. */
export function norm(
  g: GraphBuilder,
  sd: StateDict,
  x: string,
  prefix: string,
  counter: ParamCounter,
): string {
  return layerNorm(g, x, prefix, need(sd, `${prefix}.weight`), need(sd, `${prefix}.bias`), counter);
}

/** `torch.roll(x, (shift, shift), dims=(1, 2))` on tokens [Hp·Wp, C] viewed as [Hp, Wp, C]. */
export function rollTokens(
  g: GraphBuilder,
  x: string,
  grid: WindowGrid,
  c: number,
  shift: number,
  name: string,
): string {
  if (shift === 0) return x;
  const image = reshape(g, x, gridShape(g, grid, 'hwc', [grid.hp, grid.wp, c]), `${name}_hwc`);
  const rolled = roll(g, roll(g, image, 0, shift, `${name}_h`), 1, shift, `${name}_w`);
  return reshape(g, rolled, [-1, c], name);
}

/** [1, C, Hp, Wp] → tokens [Hp·Wp, C] (`patch_embed`). */
export function toTokens(g: GraphBuilder, x: string, c: number, name: string): string {
  return reshape(g, transpose(g, x, [0, 2, 3, 1], `${name}_nhwc`), [-1, c], name);
}

/** Tokens [Hp·Wp, C] → [1, C, Hp, Wp] (`patch_unembed`). */
export function toImage(g: GraphBuilder, x: string, grid: WindowGrid, c: number, name: string): string {
  const nhwc = reshape(g, x, gridShape(g, grid, 'nhwc', [1, grid.hp, grid.wp, c]), `${name}_nhwc`);
  return transpose(g, nhwc, [0, 3, 1, 2], name);
}
