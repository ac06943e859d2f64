/**
 * TF.js layers-model (model.json + group1-shard*.bin) → ONNX graph.
 *
 * Format (checked against @upscalerjs/esrgan-{slim,medium,thick} 1.0.0, TF.js converter 1.2.6):
 * `model.json` holds `format: "layers-model"`, `modelTopology.model_config` (a Keras Functional
 * config: `config.layers[]` with `class_name`, `name`, `config`, `inbound_nodes` such as
 * `[[["F_0", 0, 0, {}], ["x", 0, 0, {}]]]`) and `weightsManifest[]`, whose `weights[]` lie back to
 * back in the concatenation of the `paths` shards, in manifest order (not layer order). Weight
 * names are `<layer>/kernel` and `<layer>/bias`; kernels are [kh, kw, in, out].
 *
 * TF.js runs NHWC; the graph here is built directly in NCHW, so no Transpose is emitted: kernels
 * are permuted to ONNX [out, in, kh, kw] and channel axis 3 / -1 becomes axis 1. The graph is a
 * literal translation: it takes the network's own value range (the ESRGAN slim and medium
 * networks take 0..255, thick takes 0..1; the runner rescales from the catalog's `inputRange`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PixeliftError } from '../../errors.js';
import { type Attrs, GraphBuilder } from '../onnx/builder.js';
import { type ImportResult, newImportStats } from './ncnn.js';

export interface TfjsImportOptions {
  /** Used in error messages; defaults to `model.json`. */
  readonly file?: string;
  readonly graphName?: string;
}

/** The layer classes this importer understands (`PixelShuffle<N>x` stands for every N). */
export const TFJS_LAYER_CLASSES = [
  'InputLayer',
  'Conv2D',
  'Activation',
  'Concatenate',
  'Add',
  'MultiplyBeta',
  'PixelShuffle<N>x',
  'UpSampling2D',
] as const;

interface TfjsLayer {
  readonly className: string;
  readonly name: string;
  /** Index in `config.layers`, reported as the error's `line`. */
  readonly index: number;
  readonly config: Readonly<Record<string, unknown>>;
  /** Names of the layers whose (first) output this layer reads. */
  readonly inputs: readonly string[];
}

interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Byte offset in the concatenated shards. */
  readonly offset: number;
  readonly count: number;
}

export interface TfjsModel {
  readonly layers: readonly TfjsLayer[];
  readonly inputLayer: string;
  readonly outputLayer: string;
  readonly weights: ReadonlyMap<string, WeightSpec>;
  /** Bytes the manifest describes. */
  readonly weightBytes: number;
  /** Shard paths, relative to model.json, in concatenation order. */
  readonly shards: readonly string[];
}

interface TensorInfo {
  /** ONNX value name. */
  value: string;
  channels: number;
  /** Spatial size relative to the network input. */
  scale: number;
}

/** Keras activation names (as in Conv2D's `activation` or an Activation layer) → ONNX ops. */
const ACTIVATIONS: ReadonlyMap<string, string> = new Map([
  ['relu', 'Relu'],
  ['sigmoid', 'Sigmoid'],
  ['tanh', 'Tanh'],
]);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keras writes `kernel_size: 3` or `[3, 3]`; both mean a square pair. */
function pair(v: unknown, dflt: number): [number, number] | undefined {
  if (v === undefined) return [dflt, dflt];
  if (Number.isInteger(v) && (v as number) > 0) return [v as number, v as number];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0))
    return [v[0] as number, v[1] as number];
  return undefined;
}

/** Validate model.json's shape (no weights needed). */
export function parseTfjsModel(json: unknown, file = 'model.json'): TfjsModel {
  const invalid = (message: string) => new PixeliftError('model_format_invalid', { file, message });
  if (!isRecord(json)) throw invalid('expected a JSON object');
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw invalid(`format "${String(json.format)}" is not supported; only "layers-model"`);
  }
  const topology = json.modelTopology;
  if (!isRecord(topology)) throw invalid('no modelTopology');
  // TF.js accepts either a Keras "model.json" ({ model_config, … }) or the bare model config.
  const modelConfig = isRecord(topology.model_config) ? topology.model_config : topology;
  const kind = modelConfig.class_name;
  if (kind !== 'Functional' && kind !== 'Model') {
    throw invalid(`model class "${String(kind)}" is not supported; only Functional (Model)`);
  }
  const config = modelConfig.config;
  if (!isRecord(config) || !Array.isArray(config.layers)) throw invalid('model_config has no config.layers');

  const seen = new Set<string>();
  const layers = config.layers.map((raw: unknown, index): TfjsLayer => {
    const at = `layer ${index}`;
    if (!isRecord(raw) || typeof raw.class_name !== 'string' || typeof raw.name !== 'string') {
      throw invalid(`${at}: expected { class_name, name, config, inbound_nodes }`);
    }
    const name = raw.name;
    if (seen.has(name)) throw invalid(`${at}: duplicate layer name "${name}"`);
    seen.add(name);
    const nodes = Array.isArray(raw.inbound_nodes) ? raw.inbound_nodes : [];
    if (nodes.length > 1) {
      // A layer called more than once (weights shared between calls) is valid Keras; no model
      // we ship does it.
      throw new PixeliftError('model_layer_unsupported', {
        format: 'tfjs',
        layer: `${raw.class_name} (shared by ${nodes.length} calls)`,
        name,
        file,
        line: index,
      });
    }
    // Keras 3 writes nodes as { args, kwargs } objects; TF.js layers-models use the list form.
    const node = nodes[0] ?? [];
    if (!Array.isArray(node)) {
      throw invalid(`${at} (${name}): unsupported inbound node ${JSON.stringify(node).slice(0, 80)}`);
    }
    const inputs = node.map((entry: unknown) => {
      // [layer, node_index, tensor_index, kwargs]; every layer here is called once, one output.
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || entry[1] !== 0 || entry[2] !== 0) {
        throw invalid(`${at} (${name}): unsupported inbound entry ${JSON.stringify(entry).slice(0, 80)}`);
      }
      return entry[0];
    });
    return { className: raw.class_name, name, index, config: isRecord(raw.config) ? raw.config : {}, inputs };
  });

  const endpoint = (key: 'input_layers' | 'output_layers'): string => {
    const list = config[key];
    const first = Array.isArray(list) && list.length === 1 ? list[0] : undefined;
    if (!Array.isArray(first) || typeof first[0] !== 'string' || !seen.has(first[0])) {
      throw invalid(`config.${key} must name exactly one layer, found ${JSON.stringify(list)}`);
    }
    return first[0];
  };
  const inputLayer = endpoint('input_layers');
  const outputLayer = endpoint('output_layers');

  if (!Array.isArray(json.weightsManifest)) throw invalid('no weightsManifest');
  const weights = new Map<string, WeightSpec>();
  const shards: string[] = [];
  let offset = 0;
  for (const group of json.weightsManifest as unknown[]) {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw invalid('weightsManifest entries need paths[] and weights[]');
    }
    for (const p of group.paths) {
      if (typeof p !== 'string') throw invalid(`shard path ${JSON.stringify(p)} is not a string`);
      shards.push(p);
    }
    for (const w of group.weights as unknown[]) {
      if (
        !isRecord(w) ||
        typeof w.name !== 'string' ||
        !Array.isArray(w.shape) ||
        !w.shape.every((d) => Number.isInteger(d) && d >= 0)
      ) {
        throw invalid(`weight entry ${JSON.stringify(w).slice(0, 80)} needs a name and an integer shape`);
      }
      // Quantized manifests (uint8/uint16/float16 with a `quantization` block) are not produced
      // by the packages we ship; reject them rather than guess at dequantization.
      if (w.dtype !== 'float32' || w.quantization !== undefined) {
        throw invalid(
          `weight ${w.name}: dtype ${String(w.dtype)}${w.quantization ? ' (quantized)' : ''}; only float32`,
        );
      }
      if (weights.has(w.name)) throw invalid(`weight ${w.name} listed twice`);
      const shape = w.shape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      weights.set(w.name, { name: w.name, shape, offset, count });
      offset += count * 4;
    }
  }
  return { layers, inputLayer, outputLayer, weights, weightBytes: offset, shards };
}

/**
 * Convert a TF.js layers-model to ONNX. The graph takes `input` [1, C, H, W] and gives `output`
 * [1, C', H·scale, W·scale]. `weights` is every shard concatenated in manifest order; each weight
 * must be used exactly once and the byte count must match the manifest.
 */
export function importTfjs(
  modelJson: unknown,
  weights: Uint8Array,
  options: TfjsImportOptions = {},
): ImportResult {
  const file = options.file ?? 'model.json';
  const model = parseTfjsModel(modelJson, file);
  const invalid = (message: string) => new PixeliftError('model_format_invalid', { file, message });
  if (weights.length !== model.weightBytes) {
    throw invalid(
      `weightsManifest describes ${model.weightBytes} bytes but the shards hold ${weights.length}: the shards are truncated or do not belong to this model.json`,
    );
  }

  const g = new GraphBuilder(options.graphName ?? 'tfjs');
  const tensors = new Map<string, TensorInfo>();
  const usedWeights = new Set<string>();
  const stats = newImportStats();

  const unsupported = (l: TfjsLayer, why?: string) =>
    new PixeliftError('model_layer_unsupported', {
      format: 'tfjs',
      layer: why ? `${l.className} (${why})` : l.className,
      name: l.name,
      file,
      line: l.index,
    });
  const layerInvalid = (l: TfjsLayer, message: string) => invalid(`layer ${l.index} (${l.name}): ${message}`);
  const inputsOf = (l: TfjsLayer, arity?: number): TensorInfo[] => {
    if (arity !== undefined && l.inputs.length !== arity) {
      throw layerInvalid(l, `expects ${arity} input(s), has ${l.inputs.length}`);
    }
    if (l.inputs.length === 0) throw layerInvalid(l, 'has no inputs');
    return l.inputs.map((name) => tensors.get(name)!);
  };
  const weight = (l: TfjsLayer, which: string, shape: readonly number[]): Float32Array => {
    const name = `${l.name}/${which}`;
    const spec = model.weights.get(name);
    if (!spec) throw layerInvalid(l, `weight ${name} is missing from weightsManifest`);
    if (spec.shape.join('x') !== shape.join('x')) {
      throw layerInvalid(l, `weight ${name} has shape [${spec.shape}], expected [${shape}]`);
    }
    usedWeights.add(name);
    stats.params += spec.count;
    // slice() copies, so the Float32Array is aligned whatever the shard's byte offset.
    const start = weights.byteOffset + spec.offset;
    return new Float32Array(weights.buffer.slice(start, start + spec.count * 4));
  };
  const sameShape = (l: TfjsLayer, ins: readonly TensorInfo[]) => {
    if (ins.some((t) => t.channels !== ins[0]!.channels || t.scale !== ins[0]!.scale)) {
      throw layerInvalid(
        l,
        `inputs differ in channels or scale (${ins.map((t) => `${t.channels}@${t.scale}x`)})`,
      );
    }
  };

  const emit = (l: TfjsLayer): TensorInfo => {
    const c = l.config;
    switch (l.className) {
      case 'InputLayer': {
        if (l.name !== model.inputLayer) throw unsupported(l, 'a second input');
        const shape = c.batch_input_shape ?? c.batchInputShape;
        const channels = Array.isArray(shape) && shape.length === 4 ? shape[3] : undefined;
        if (!Number.isInteger(channels)) {
          throw unsupported(l, `batch_input_shape ${JSON.stringify(shape)}; only 4-D NHWC images`);
        }
        stats.inputChannels = channels as number;
        return {
          value: g.input('input', [1, channels as number, 'height', 'width']),
          channels: channels as number,
          scale: 1,
        };
      }
      case 'Conv2D':
        return conv2d(l, inputsOf(l, 1)[0]!);
      case 'Activation': {
        const [x] = inputsOf(l, 1) as [TensorInfo];
        return { ...x, value: activation(l, x.value, c.activation, l.name) };
      }
      case 'Concatenate': {
        const ins = inputsOf(l);
        const axis = c.axis ?? -1;
        if (axis !== 3 && axis !== -1) throw unsupported(l, `axis ${String(axis)}; only channel concat`);
        if (ins.some((t) => t.scale !== ins[0]!.scale))
          throw layerInvalid(l, 'inputs differ in spatial scale');
        const value = g.node(
          'Concat',
          ins.map((t) => t.value),
          { axis: 1 },
          l.name,
        );
        return { value, channels: ins.reduce((s, t) => s + t.channels, 0), scale: ins[0]!.scale };
      }
      case 'Add': {
        const ins = inputsOf(l);
        sameShape(l, ins);
        const value = g.node(
          ins.length === 2 ? 'Add' : 'Sum',
          ins.map((t) => t.value),
          {},
          l.name,
        );
        return { ...ins[0]!, value };
      }
      case 'MultiplyBeta': {
        // UpscalerJS's own class multiplies by a hard-coded 0.2 (esrgan.js, BETA) and ignores
        // config.beta; every shipped model.json says 0.2 too. Honour the config when present.
        const [x] = inputsOf(l, 1) as [TensorInfo];
        const beta = c.beta ?? 0.2;
        if (typeof beta !== 'number' || !Number.isFinite(beta)) throw layerInvalid(l, `beta ${String(beta)}`);
        return { ...x, value: g.node('Mul', [x.value, g.scalar(`${l.name}.beta`, beta)], {}, l.name) };
      }
      case 'UpSampling2D': {
        const [x] = inputsOf(l, 1) as [TensorInfo];
        const size = pair(c.size, 2);
        if (!size || size[0] !== size[1]) throw unsupported(l, `size ${JSON.stringify(c.size)}; only square`);
        if ((c.data_format ?? 'channels_last') !== 'channels_last')
          throw unsupported(l, String(c.data_format));
        const interpolation = c.interpolation ?? 'nearest';
        // TF.js (tfjs-layers UpSampling2D.call) resizes with alignCorners = halfPixelCenters =
        // false: source = floor(dst / s) for nearest, dst / s for bilinear, i.e. ONNX
        // "asymmetric". Keras in Python differs (half-pixel); TF.js is what ran these models.
        const attrs: Attrs | undefined =
          interpolation === 'nearest'
            ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
            : interpolation === 'bilinear'
              ? { mode: 'linear', coordinate_transformation_mode: 'asymmetric' }
              : undefined;
        if (!attrs) throw unsupported(l, `interpolation ${String(interpolation)}`);
        const s = size[0];
        const scales = g.tensor(`${l.name}.scales`, Float32Array.of(1, 1, s, s), [4]);
        return { ...x, value: g.node('Resize', [x.value, '', scales], attrs, l.name), scale: x.scale * s };
      }
      default: {
        const shuffle = /^PixelShuffle(\d+)x$/.exec(l.className);
        if (!shuffle) throw unsupported(l);
        // UpscalerJS registers one class per scale; its call() is tf.depthToSpace(x, r, 'NHWC'),
        // which reads channel (dy·r + dx)·C' + c: ONNX DepthToSpace in DCR mode (CRD is
        // PyTorch's pixel_shuffle order). The test compares with TF.js itself.
        const [x] = inputsOf(l, 1) as [TensorInfo];
        const r = Number(shuffle[1]);
        if (c.scale !== undefined && c.scale !== r)
          throw layerInvalid(l, `config.scale ${String(c.scale)} in ${l.className}`);
        if (r < 1 || x.channels % (r * r) !== 0)
          throw layerInvalid(l, `${x.channels} channels do not fold by ${r}x${r}`);
        return {
          value: g.node('DepthToSpace', [x.value], { blocksize: r, mode: 'DCR' }, l.name),
          channels: x.channels / (r * r),
          scale: x.scale * r,
        };
      }
    }
  };

  const conv2d = (l: TfjsLayer, x: TensorInfo): TensorInfo => {
    const c = l.config;
    const filters = c.filters;
    const kernel = pair(c.kernel_size, 1);
    const strides = pair(c.strides, 1);
    const dilations = pair(c.dilation_rate, 1);
    const groups = c.groups ?? 1;
    if (!Number.isInteger(filters) || (filters as number) <= 0 || !kernel || !strides || !dilations) {
      throw layerInvalid(l, 'filters, kernel_size, strides and dilation_rate must be positive integers');
    }
    if ((c.data_format ?? 'channels_last') !== 'channels_last') throw unsupported(l, String(c.data_format));
    // tfjs-layers 4.11 has no grouped convolution, so such a model never ran in TF.js.
    if (groups !== 1) throw unsupported(l, `groups ${String(groups)}`);
    if (strides[0] !== strides[1]) throw unsupported(l, `unequal strides ${strides.join('x')}`);
    const out = filters as number;
    const [kh, kw] = kernel;
    const cin = x.channels;
    const k = weight(l, 'kernel', [kh, kw, cin, out]);
    // [kh, kw, in, out] → [out, in, kh, kw]
    const w = new Float32Array(k.length);
    for (let y = 0; y < kh; y++)
      for (let xx = 0; xx < kw; xx++)
        for (let i = 0; i < cin; i++)
          for (let o = 0; o < out; o++)
            w[((o * cin + i) * kh + y) * kw + xx] = k[((y * kw + xx) * cin + i) * out + o]!;
    const inputs = [x.value, g.tensor(`${l.name}.weight`, w, [out, cin, kh, kw])];
    if (c.use_bias ?? true) inputs.push(g.tensor(`${l.name}.bias`, weight(l, 'bias', [out]), [out]));

    const attrs: Attrs = { kernel_shape: [kh, kw], strides, dilations, group: 1 };
    const padding = c.padding ?? 'valid';
    if (padding === 'same') {
      if (strides[0] === 1) {
        // TF's SAME at stride 1 pads dilation·(k − 1) in total, the odd one at the end.
        const [th, tw] = [dilations[0] * (kh - 1), dilations[1] * (kw - 1)];
        attrs.pads = [th >> 1, tw >> 1, th - (th >> 1), tw - (tw >> 1)];
      } else {
        // At larger strides the total depends on the input size; ONNX SAME_UPPER is TF's rule.
        attrs.auto_pad = 'SAME_UPPER';
      }
    } else if (padding !== 'valid') {
      throw unsupported(l, `padding ${String(padding)}`);
    }
    let value = g.node('Conv', inputs, attrs, l.name);
    value = activation(l, value, c.activation, `${l.name}_act`);
    const scale = x.scale / strides[0];
    stats.flopsPerInputPixel += 2 * kh * kw * cin * out * scale * scale;
    return { value, channels: out, scale };
  };

  const activation = (l: TfjsLayer, x: string, name: unknown, outName: string): string => {
    const key = name ?? 'linear';
    if (key === 'linear') return x;
    const op = typeof key === 'string' ? ACTIVATIONS.get(key) : undefined;
    if (!op) throw unsupported(l, `activation ${String(key)}`);
    return g.node(op, [x], {}, outName);
  };

  // Keras writes layers in topological order, but nothing in the format promises it: emit each
  // layer once all of its inputs exist.
  const pending = new Set(model.layers);
  while (pending.size > 0) {
    let progressed = false;
    for (const l of pending) {
      if (!l.inputs.every((name) => tensors.has(name))) continue;
      tensors.set(l.name, emit(l));
      pending.delete(l);
      progressed = true;
    }
    if (!progressed) {
      const l = [...pending][0]!;
      const missing = l.inputs.find((name) => !tensors.has(name));
      throw layerInvalid(l, `reads "${missing}", which no layer produces (or the graph has a cycle)`);
    }
  }

  const unused = [...model.weights.keys()].filter((name) => !usedWeights.has(name));
  if (unused.length > 0) {
    throw invalid(
      `weights ${unused.slice(0, 5).join(', ')} belong to no layer: the manifest does not match the topology`,
    );
  }
  const out = tensors.get(model.outputLayer)!;
  stats.scale = out.scale;
  stats.outputChannels = out.channels;
  g.output(out.value, 'output', [1, out.channels, 'out_height', 'out_width']);
  return { onnx: g.toBytes({ producer: 'pixelift-tfjs' }), stats };
}

/** Read `dir/model.json` and its shards, and convert them. */
export async function importTfjsDir(dir: string, options: TfjsImportOptions = {}): Promise<ImportResult> {
  const file = options.file ?? path.join(dir, 'model.json');
  const invalid = (message: string, cause?: unknown) =>
    new PixeliftError('model_format_invalid', { file, message }, { cause });
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw invalid(`not JSON: ${err.message}`, err);
    throw err;
  }
  const { shards } = parseTfjsModel(json, file);
  const root = path.resolve(dir);
  const parts = await Promise.all(
    shards.map(async (shard) => {
      const shardPath = path.resolve(root, shard);
      // Shard paths are URLs relative to model.json; one that leaves the folder is not a shard.
      if (!shardPath.startsWith(root + path.sep))
        throw invalid(`shard path "${shard}" leaves the model folder`);
      try {
        return await fs.readFile(shardPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          throw invalid(`shard "${shard}" is missing`, err);
        throw err;
      }
    }),
  );
  return importTfjs(json, Buffer.concat(parts), { ...options, file });
}
