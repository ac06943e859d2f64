/**
 * What the PyTorch importer works on: a state dict (parameter name → tensor), read from a
 * `.safetensors` file or a PyTorch checkpoint without executing anything, and the
 * architectures that recognise a state dict from its keys and shapes and build an ONNX graph
 * from it.
 *
 * Shared by the readers (safetensors, checkpoint zip, legacy pickle) and every architecture in
 * `arch/`; an architecture never sees the file format.
 */
import type { ImportResult } from '../import/ncnn.js';

/** One tensor of a state dict, converted to float32 whatever its stored type (F32/F16/BF16). */
export interface TorchTensor {
  /** PyTorch shape, e.g. Conv2d weight [out, in, kh, kw]. */
  readonly shape: readonly number[];
  /** Row-major (contiguous) values. */
  readonly data: Float32Array;
}

/** Parameter name → tensor, with wrappers (`params_ema`, `module.`, …) already removed. */
export type StateDict = ReadonlyMap<string, TorchTensor>;

/** Hyperparameters an architecture inferred from a state dict. */
export interface ArchDetection {
  /** Architecture id, e.g. `esrgan`, `srvgg`, `span`, `swinir`, `hat`. */
  readonly arch: string;
  /** Human variant, e.g. `RRDBNet 23 blocks, 64 ch` or `SwinIR real-SR (nearest+conv)`. */
  readonly variant: string;
  /** Spatial scale from input to output. */
  readonly scale: number;
  readonly inputChannels: number;
  readonly outputChannels: number;
  /**
   * The input side must be a multiple of this (windowed transformers: window size; pixel
   * unshuffle: 2 or 4). The graph pads and crops itself, so callers can ignore it; the engine
   * may use it to pick tile sides that avoid padding.
   */
  readonly sizeMultiple: number;
  /** Everything else the builder needs (channels, blocks, upsampler kind, …), JSON-serialisable. */
  readonly params: Readonly<Record<string, number | string | boolean | readonly number[]>>;
}

export interface Architecture {
  /** Same as `ArchDetection.arch`. */
  readonly id: string;
  /** Display name, e.g. `ESRGAN (RRDBNet)`. */
  readonly name: string;
  /** The hyperparameters when `sd` is this architecture, else undefined. Never throws on foreign dicts. */
  detect(sd: StateDict): ArchDetection | undefined;
  /**
   * The ONNX graph: input `input` [1, C, H, W] float32 in [0, 1] (RGB for 3-channel nets),
   * output `output` [1, C, H·scale, W·scale], with dynamic H and W.
   */
  build(sd: StateDict, detection: ArchDetection): ImportResult;
}
