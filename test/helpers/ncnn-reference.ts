/**
 * An independent reference for ncnn models, used to check the ncnn → ONNX importer.
 *
 * It shares no code with src/models/import: it parses the `.param` text itself, reads the
 * `.bin` itself (its own fp16 decoder), and runs every layer with naive loops over CHW
 * Float32Array blobs, following ncnn's C++ layer sources (src/layer/*.cpp) rather than ONNX.
 * It also writes synthetic `.bin` files (its own fp32 → fp16 encoder) from a seeded PRNG.
 */

import { seededRandom } from './random.js';

// --- .param -------------------------------------------------------------------------------------

export type RefValue = number | number[];

export interface RefLayer {
  readonly type: string;
  readonly name: string;
  readonly bottoms: string[];
  readonly tops: string[];
  /** Parameter id → value; array parameters (`-233xx=n,…`) are stored under id xx. */
  readonly params: Map<number, RefValue>;
}

/** Parses ncnn `.param` text: magic, counts, then `Type name nbottom ntop bottoms… tops… k=v…`. */
export function parseParam(text: string): RefLayer[] {
  const rows = text
    .split('\n')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  if (rows[0] !== '7767517') throw new Error(`reference: bad magic "${rows[0]}"`);
  const [layerCount] = rows[1]!.split(/\s+/).map((s) => Number.parseInt(s, 10));
  const layers: RefLayer[] = [];
  for (const row of rows.slice(2)) {
    const f = row.split(/\s+/);
    const nb = Number.parseInt(f[2]!, 10);
    const nt = Number.parseInt(f[3]!, 10);
    const params = new Map<number, RefValue>();
    for (const kv of f.slice(4 + nb + nt)) {
      const [k, v] = kv.split('=') as [string, string];
      const id = Number.parseInt(k, 10);
      if (id <= -23300) {
        const nums = v.split(',').map(Number.parseFloat);
        params.set(-23300 - id, nums.slice(1, 1 + nums[0]!));
      } else {
        params.set(id, Number.parseFloat(v));
      }
    }
    layers.push({
      type: f[0]!,
      name: f[1]!,
      bottoms: f.slice(4, 4 + nb),
      tops: f.slice(4 + nb, 4 + nb + nt),
      params,
    });
  }
  if (layers.length !== layerCount) throw new Error('reference: layer count mismatch');
  return layers;
}

function num(l: RefLayer, id: number, dflt: number): number {
  const v = l.params.get(id);
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new Error(`reference: ${l.name} param ${id} is an array`);
  return v;
}

function list(l: RefLayer, id: number): number[] {
  const v = l.params.get(id);
  if (v === undefined) return [];
  return typeof v === 'number' ? [v] : v;
}

/** Convolution hyper-parameters as ncnn's Convolution::load_param defaults them. */
export interface ConvParams {
  numOutput: number;
  kernelW: number;
  kernelH: number;
  dilationW: number;
  dilationH: number;
  strideW: number;
  strideH: number;
  padLeft: number;
  padRight: number;
  padTop: number;
  padBottom: number;
  biasTerm: number;
  weightDataSize: number;
  group: number;
  activationType: number;
  activationParams: number[];
}

export function convParams(l: RefLayer): ConvParams {
  const kernelW = num(l, 1, 0);
  const dilationW = num(l, 2, 1);
  const strideW = num(l, 3, 1);
  const padLeft = num(l, 4, 0);
  const padTop = num(l, 14, padLeft);
  return {
    numOutput: num(l, 0, 0),
    kernelW,
    kernelH: num(l, 11, kernelW),
    dilationW,
    dilationH: num(l, 12, dilationW),
    strideW,
    strideH: num(l, 13, strideW),
    padLeft,
    padRight: num(l, 15, padLeft),
    padTop,
    padBottom: num(l, 16, padTop),
    biasTerm: num(l, 5, 0),
    weightDataSize: num(l, 6, 0),
    group: l.type === 'ConvolutionDepthWise' ? num(l, 7, 1) : 1,
    activationType: num(l, 9, 0),
    activationParams: list(l, 10),
  };
}

/** Learned values a `.param` declares: weight_data_size + bias (num_output) + PReLU num_slope. */
export function countParams(text: string): number {
  let total = 0;
  for (const l of parseParam(text)) {
    if (l.type === 'Convolution' || l.type === 'ConvolutionDepthWise') {
      const p = convParams(l);
      total += p.weightDataSize + (p.biasTerm ? p.numOutput : 0);
    } else if (l.type === 'PReLU') {
      total += num(l, 0, 0);
    }
  }
  return total;
}

// --- fp16 -----------------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** fp32 → IEEE half bit pattern, round to nearest even, with subnormals, ±Inf and NaN. */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal: value = q·2^-24, q = (1.mant · 2^(exp-127)) / 2^-24 = m >> (126 - exp).
    const shift = 126 - exp;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q;
  }
  const h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  return rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1) ? h + 1 : h;
}

/** IEEE half bit pattern → number, computed arithmetically (not by bit assembly). */
export function fromHalfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// --- .bin -----------------------------------------------------------------------------------------

export const FP16_TAG = 0x01306b47;

/** Writes `.bin` bytes the way ncnn's ModelBin reads them. */
export class BinWriter {
  private readonly parts: Uint8Array[] = [];

  /** A tagged blob (ModelBin type 0): 4-byte tag, then fp16 (padded to 4 bytes) or fp32. */
  tagged(values: ArrayLike<number>, storage: 'fp32' | 'fp16'): this {
    if (storage === 'fp32') {
      this.u32(0);
      return this.raw(values);
    }
    this.u32(FP16_TAG);
    const bytes = new Uint8Array((values.length * 2 + 3) & ~3);
    for (let i = 0; i < values.length; i++) {
      const h = toHalfBits(values[i]!);
      bytes[2 * i] = h & 0xff;
      bytes[2 * i + 1] = h >> 8;
    }
    this.parts.push(bytes);
    return this;
  }

  /** Raw little-endian fp32 (ModelBin type 1: biases, PReLU slopes). */
  raw(values: ArrayLike<number>): this {
    const dv = new DataView(new ArrayBuffer(values.length * 4));
    for (let i = 0; i < values.length; i++) dv.setFloat32(4 * i, values[i]!, true);
    this.parts.push(new Uint8Array(dv.buffer));
    return this;
  }

  u32(v: number): this {
    const dv = new DataView(new ArrayBuffer(4));
    dv.setUint32(0, v, true);
    this.parts.push(new Uint8Array(dv.buffer));
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** The shared seeded PRNG (test/helpers/random.ts). */
export const prng = seededRandom;

/**
 * A `.bin` for `paramText` with random weights: convolution weights uniform in ±√(3/fan_in)
 * (unit-variance outputs), biases in ±0.2, PReLU slopes in [0.05, 0.45].
 */
export function synthesizeBin(paramText: string, storage: 'fp32' | 'fp16', seed: number): Uint8Array {
  const rand = prng(seed);
  const w = new BinWriter();
  for (const l of parseParam(paramText)) {
    if (l.type === 'Convolution' || l.type === 'ConvolutionDepthWise') {
      const p = convParams(l);
      const bound = Math.sqrt(3 / (p.weightDataSize / p.numOutput));
      w.tagged(
        Array.from({ length: p.weightDataSize }, () => (2 * rand() - 1) * bound),
        storage,
      );
      if (p.biasTerm) w.raw(Array.from({ length: p.numOutput }, () => (2 * rand() - 1) * 0.2));
    } else if (l.type === 'PReLU') {
      w.raw(Array.from({ length: num(l, 0, 0) }, () => 0.05 + 0.4 * rand()));
    }
  }
  return w.bytes();
}

export interface LayerWeights {
  weight?: Float32Array;
  bias?: Float32Array;
  slope?: Float32Array;
}

/** Reads every layer's blobs from `bin` in `.param` order; `end` is the byte offset reached. */
export function readBin(
  layers: readonly RefLayer[],
  bin: Uint8Array,
): { weights: Map<string, LayerWeights>; end: number } {
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bin.length) throw new Error(`reference: .bin too short at ${at} (+${n})`);
  };
  const raw = (n: number) => {
    need(4 * n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(at + 4 * i, true);
    at += 4 * n;
    return out;
  };
  const tagged = (n: number) => {
    need(4);
    const tag = dv.getUint32(at, true);
    at += 4;
    if (tag === 0) return raw(n);
    if (tag !== FP16_TAG) throw new Error(`reference: unknown tag 0x${tag.toString(16)}`);
    need(2 * n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = fromHalfBits(dv.getUint16(at + 2 * i, true));
    at += (2 * n + 3) & ~3;
    return out;
  };
  const weights = new Map<string, LayerWeights>();
  for (const l of layers) {
    if (l.type === 'Convolution' || l.type === 'ConvolutionDepthWise') {
      const p = convParams(l);
      const weight = tagged(p.weightDataSize);
      weights.set(l.name, p.biasTerm ? { weight, bias: raw(p.numOutput) } : { weight });
    } else if (l.type === 'PReLU') {
      weights.set(l.name, { slope: raw(num(l, 0, 0)) });
    }
  }
  return { weights, end: at };
}

// --- layers ---------------------------------------------------------------------------------------

/** One ncnn Mat of dims 3: channels × height × width, row-major. */
export interface Blob3 {
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly data: Float32Array;
}

const blob = (c: number, h: number, w: number): Blob3 => ({ c, h, w, data: new Float32Array(c * h * w) });

const FLT_MAX = 3.4028234663852886e38;

function activate(v: number, type: number, params: number[]): number {
  switch (type) {
    case 0:
      return v;
    case 1:
      return Math.max(v, 0);
    case 2:
      return v > 0 ? v : v * params[0]!;
    case 3:
      return Math.min(Math.max(v, params[0]!), params[1]!);
    case 4:
      return 1 / (1 + Math.exp(-v));
    default:
      throw new Error(`reference: activation ${type}`);
  }
}

/** ncnn Convolution / ConvolutionDepthWise: pad, then a direct sliding-window sum per group. */
function convolution(x: Blob3, p: ConvParams, wt: LayerWeights): Blob3 {
  const extW = p.dilationW * (p.kernelW - 1) + 1;
  const extH = p.dilationH * (p.kernelH - 1) + 1;
  const outW = Math.floor((x.w + p.padLeft + p.padRight - extW) / p.strideW) + 1;
  const outH = Math.floor((x.h + p.padTop + p.padBottom - extH) / p.strideH) + 1;
  const cinG = x.c / p.group;
  const coutG = p.numOutput / p.group;
  const weight = wt.weight!;
  if (weight.length !== p.numOutput * cinG * p.kernelH * p.kernelW) throw new Error('reference: weight size');
  const y = blob(p.numOutput, outH, outW);
  for (let o = 0; o < p.numOutput; o++) {
    const g = Math.floor(o / coutG);
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let acc = wt.bias ? wt.bias[o]! : 0;
        for (let ic = 0; ic < cinG; ic++) {
          const plane = (g * cinG + ic) * x.h * x.w;
          for (let ky = 0; ky < p.kernelH; ky++) {
            const iy = oy * p.strideH + ky * p.dilationH - p.padTop;
            if (iy < 0 || iy >= x.h) continue;
            for (let kx = 0; kx < p.kernelW; kx++) {
              const ix = ox * p.strideW + kx * p.dilationW - p.padLeft;
              if (ix < 0 || ix >= x.w) continue;
              acc +=
                weight[((o * cinG + ic) * p.kernelH + ky) * p.kernelW + kx]! * x.data[plane + iy * x.w + ix]!;
            }
          }
        }
        y.data[(o * outH + oy) * outW + ox] = activate(acc, p.activationType, p.activationParams);
      }
    }
  }
  return y;
}

function map(x: Blob3, f: (v: number, channel: number) => number): Blob3 {
  const y = blob(x.c, x.h, x.w);
  const plane = x.h * x.w;
  for (let i = 0; i < x.data.length; i++) y.data[i] = f(x.data[i]!, Math.floor(i / plane));
  return y;
}

function zip(xs: readonly Blob3[], f: (vs: number[]) => number): Blob3 {
  const a = xs[0]!;
  for (const b of xs) {
    if (b.c !== a.c || b.h !== a.h || b.w !== a.w) throw new Error('reference: shapes differ');
  }
  const y = blob(a.c, a.h, a.w);
  for (let i = 0; i < a.data.length; i++) y.data[i] = f(xs.map((b) => b.data[i]!));
  return y;
}

/** ncnn Eltwise: op 0 PROD (the default), 1 SUM (optionally weighted by coeffs), 2 MAX. */
function eltwise(l: RefLayer, xs: readonly Blob3[]): Blob3 {
  const op = num(l, 0, 0);
  const coeffs = list(l, 1);
  if (op === 0) return zip(xs, (vs) => vs.reduce((a, b) => a * b));
  if (op === 1) return zip(xs, (vs) => vs.reduce((s, v, i) => s + v * (coeffs.length ? coeffs[i]! : 1), 0));
  if (op === 2) return zip(xs, (vs) => Math.max(...vs));
  throw new Error(`reference: eltwise op ${op}`);
}

const BINARY: Record<number, (a: number, b: number) => number> = {
  0: (a, b) => a + b,
  1: (a, b) => a - b,
  2: (a, b) => a * b,
  3: (a, b) => a / b,
  4: (a, b) => Math.max(a, b),
  5: (a, b) => Math.min(a, b),
  6: (a, b) => a ** b,
  7: (a, b) => b - a,
  8: (a, b) => b / a,
};

function binaryOp(l: RefLayer, xs: readonly Blob3[]): Blob3 {
  const f = BINARY[num(l, 0, 0)];
  if (!f) throw new Error(`reference: binary op ${num(l, 0, 0)}`);
  if (num(l, 1, 0) === 1) {
    const b = num(l, 2, 0);
    return map(xs[0]!, (a) => f(a, b));
  }
  return zip(xs, (vs) => f(vs[0]!, vs[1]!));
}

/** ncnn linear_coeffs: half-pixel source positions with the w/outw ratio, clamped at borders. */
function linearCoeffs(w: number, outw: number, alignCorner: boolean): { ofs: number[]; alpha: number[][] } {
  const scale = alignCorner ? (w - 1) / (outw - 1) : w / outw;
  const ofs: number[] = [];
  const alpha: number[][] = [];
  for (let dx = 0; dx < outw; dx++) {
    let fx = Math.fround(alignCorner ? dx * scale : (dx + 0.5) * scale - 0.5);
    let sx = Math.floor(fx);
    fx -= sx;
    if (sx < 0) {
      sx = 0;
      fx = 0;
    }
    if (sx >= w - 1) {
      sx = w - 2;
      fx = 1;
    }
    ofs.push(sx);
    alpha.push([1 - fx, fx]);
  }
  return { ofs, alpha };
}

/** ncnn cubic_coeffs: A = -0.75, the taps folded onto the image at the borders. */
function cubicCoeffs(w: number, outw: number, alignCorner: boolean): { ofs: number[]; alpha: number[][] } {
  const A = -0.75;
  const scale = alignCorner ? (w - 1) / (outw - 1) : w / outw;
  const ofs: number[] = [];
  const alpha: number[][] = [];
  for (let dx = 0; dx < outw; dx++) {
    let fx = Math.fround(alignCorner ? dx * scale : (dx + 0.5) * scale - 0.5);
    let sx = Math.floor(fx);
    fx -= sx;
    const [f0, f1, f2] = [fx + 1, fx, 1 - fx];
    const c0 = A * f0 * f0 * f0 - 5 * A * f0 * f0 + 8 * A * f0 - 4 * A;
    const c1 = (A + 2) * f1 * f1 * f1 - (A + 3) * f1 * f1 + 1;
    const c2 = (A + 2) * f2 * f2 * f2 - (A + 3) * f2 * f2 + 1;
    let a = [c0, c1, c2, 1 - c0 - c1 - c2];
    if (sx <= -1) {
      sx = 1;
      a = [1 - a[3]!, a[3]!, 0, 0];
    }
    if (sx === 0) {
      sx = 1;
      a = [a[0]! + a[1]!, a[2]!, a[3]!, 0];
    }
    if (sx === w - 2) {
      sx = w - 3;
      a = [0, a[0]!, a[1]!, a[2]! + a[3]!];
    }
    if (sx >= w - 1) {
      sx = w - 3;
      a = [0, 0, a[0]!, 1 - a[0]!];
    }
    ofs.push(sx);
    alpha.push(a);
  }
  return { ofs, alpha };
}

/** ncnn Interp (resize_type 1 nearest, 2 bilinear, 3 bicubic), output size from the scales. */
function interp(l: RefLayer, x: Blob3): Blob3 {
  const type = num(l, 0, 0);
  const hs = Math.fround(num(l, 1, 1));
  const ws = Math.fround(num(l, 2, 1));
  if (num(l, 3, 0) !== 0 || num(l, 4, 0) !== 0) throw new Error('reference: fixed Interp size');
  const align = num(l, 6, 0) === 1;
  const outH = Math.trunc(Math.fround(x.h * hs));
  const outW = Math.trunc(Math.fround(x.w * ws));
  if (outH === x.h && outW === x.w) return x;
  const y = blob(x.c, outH, outW);
  const at = (q: number, yy: number, xx: number) => x.data[(q * x.h + yy) * x.w + xx]!;
  if (type === 1) {
    // in_y = min((int)(y * (1/height_scale)), h - 1), in float
    const rh = Math.fround(1 / hs);
    const rw = Math.fround(1 / ws);
    for (let q = 0; q < x.c; q++)
      for (let oy = 0; oy < outH; oy++) {
        const iy = Math.min(Math.trunc(Math.fround(oy * rh)), x.h - 1);
        for (let ox = 0; ox < outW; ox++) {
          const ix = Math.min(Math.trunc(Math.fround(ox * rw)), x.w - 1);
          y.data[(q * outH + oy) * outW + ox] = at(q, iy, ix);
        }
      }
    return y;
  }
  if (type !== 2 && type !== 3) throw new Error(`reference: resize type ${type}`);
  const coeffs = type === 2 ? linearCoeffs : cubicCoeffs;
  const first = type === 2 ? 0 : -1; // taps sx..sx+1 (bilinear) or sx-1..sx+2 (bicubic)
  const cx = coeffs(x.w, outW, align);
  const cy = coeffs(x.h, outH, align);
  for (let q = 0; q < x.c; q++)
    for (let oy = 0; oy < outH; oy++) {
      const beta = cy.alpha[oy]!;
      for (let ox = 0; ox < outW; ox++) {
        const alpha = cx.alpha[ox]!;
        let acc = 0;
        for (let j = 0; j < beta.length; j++) {
          let row = 0;
          for (let i = 0; i < alpha.length; i++) {
            if (alpha[i] !== 0) row += alpha[i]! * at(q, cy.ofs[oy]! + first + j, cx.ofs[ox]! + first + i);
          }
          if (beta[j] !== 0) acc += beta[j]! * row;
        }
        y.data[(q * outH + oy) * outW + ox] = acc;
      }
    }
  return y;
}

/** ncnn PixelShuffle: mode 0 reads channel p·r² + sh·r + sw, mode 1 (sh·r + sw)·outc + p. */
function pixelShuffle(l: RefLayer, x: Blob3): Blob3 {
  const r = num(l, 0, 1);
  const mode = num(l, 1, 0);
  const outc = x.c / (r * r);
  const y = blob(outc, x.h * r, x.w * r);
  for (let p = 0; p < outc; p++)
    for (let sh = 0; sh < r; sh++)
      for (let sw = 0; sw < r; sw++) {
        const q = mode === 0 ? p * r * r + sh * r + sw : (sh * r + sw) * outc + p;
        for (let i = 0; i < x.h; i++)
          for (let j = 0; j < x.w; j++) {
            y.data[(p * y.h + i * r + sh) * y.w + j * r + sw] = x.data[(q * x.h + i) * x.w + j]!;
          }
      }
  return y;
}

function concat(l: RefLayer, xs: readonly Blob3[]): Blob3 {
  let axis = num(l, 0, 0);
  if (axis < 0) axis += 3;
  if (axis !== 0) throw new Error(`reference: concat axis ${axis}`);
  const y = blob(
    xs.reduce((s, b) => s + b.c, 0),
    xs[0]!.h,
    xs[0]!.w,
  );
  let at = 0;
  for (const b of xs) {
    if (b.h !== y.h || b.w !== y.w) throw new Error('reference: concat shapes differ');
    y.data.set(b.data, at);
    at += b.data.length;
  }
  return y;
}

/** Runs a whole model; returns every blob by name (the input blob included). */
export function runReference(paramText: string, bin: Uint8Array, input: Blob3): Map<string, Blob3> {
  const layers = parseParam(paramText);
  const { weights, end } = readBin(layers, bin);
  if (end !== bin.length) throw new Error(`reference: .bin has ${bin.length - end} bytes left over`);
  const blobs = new Map<string, Blob3>();
  for (const l of layers) {
    const xs = l.bottoms.map((b) => {
      const v = blobs.get(b);
      if (!v) throw new Error(`reference: ${l.name} reads unknown blob ${b}`);
      return v;
    });
    const x = xs[0]!;
    let outs: Blob3[];
    switch (l.type) {
      case 'Input':
        outs = [input];
        break;
      case 'Split':
        outs = l.tops.map(() => x);
        break;
      case 'Noop':
        outs = [x];
        break;
      case 'Dropout': {
        const scale = num(l, 0, 1);
        outs = [scale === 1 ? x : map(x, (v) => v * scale)];
        break;
      }
      case 'Convolution':
      case 'ConvolutionDepthWise':
        outs = [convolution(x, convParams(l), weights.get(l.name)!)];
        break;
      case 'PReLU': {
        const slope = weights.get(l.name)!.slope!;
        outs = [map(x, (v, q) => (v < 0 ? v * (slope.length > 1 ? slope[q]! : slope[0]!) : v))];
        break;
      }
      case 'ReLU': {
        const slope = num(l, 0, 0);
        outs = [map(x, (v) => (v < 0 ? v * slope : v))];
        break;
      }
      case 'Sigmoid':
        outs = [map(x, (v) => 1 / (1 + Math.exp(-v)))];
        break;
      case 'TanH':
        outs = [map(x, Math.tanh)];
        break;
      case 'Clip': {
        const lo = num(l, 0, -FLT_MAX);
        const hi = num(l, 1, FLT_MAX);
        outs = [map(x, (v) => Math.min(Math.max(v, lo), hi))];
        break;
      }
      case 'Concat':
        outs = [concat(l, xs)];
        break;
      case 'Eltwise':
        outs = [eltwise(l, xs)];
        break;
      case 'BinaryOp':
        outs = [binaryOp(l, xs)];
        break;
      case 'Interp':
        outs = [interp(l, x)];
        break;
      case 'PixelShuffle':
        outs = [pixelShuffle(l, x)];
        break;
      default:
        throw new Error(`reference: layer type ${l.type}`);
    }
    l.tops.forEach((t, i) => {
      blobs.set(t, outs[i]!);
    });
  }
  return blobs;
}
