/**
 * onnxruntime-node sessions as Pixelift creates them (src/models/session.ts): CPU provider,
 * every core for intra-op work, one inter-op thread, sequential execution, graph optimization
 * 'all'; threads and level come from src/config.ts DEFAULTS so the bench measures what the
 * server runs.
 */
import ort from 'onnxruntime-node';
import { DEFAULTS } from '../../src/config.js';

export type SessionOptions = ort.InferenceSession.SessionOptions;

export const defaultSessionOptions = (): SessionOptions => ({
  executionProviders: ['cpu'],
  intraOpNumThreads: DEFAULTS.threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: DEFAULTS.graphOptimizationLevel,
});

export function createSession(
  onnx: Uint8Array,
  options: SessionOptions = defaultSessionOptions(),
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(onnx, options);
}

/** A [1, C, H, W] float32 feed for the graph input named `input`. */
export function feed(data: Float32Array, channels: number, side: number): Record<string, ort.Tensor> {
  return { input: new ort.Tensor('float32', data, [1, channels, side, side]) };
}

/** Run once and return the `output` tensor's data. */
export async function runOutput(
  session: ort.InferenceSession,
  inputs: Record<string, ort.Tensor>,
): Promise<Float32Array> {
  const result = await session.run(inputs);
  const out = result.output;
  if (!out) throw new Error(`model has no output named "output" (has ${Object.keys(result).join(', ')})`);
  return out.data as Float32Array;
}
