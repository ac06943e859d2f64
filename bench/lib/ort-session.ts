/**
 * onnxruntime-node sessions as Pixelift creates them (src/models/session.ts): the same options
 * (`sessionOptions`: CPU provider, every core for intra-op work, one inter-op thread, sequential,
 * no memory pattern) and the same graph (`graphFor`: PRelu split on CPU), with threads and
 * optimization level from src/config.ts DEFAULTS, so the bench measures what the server runs.
 */
import ort from 'onnxruntime-node';
import { DEFAULTS } from '../../src/config.js';
import { graphFor, sessionOptions } from '../../src/models/session.js';

export type SessionOptions = ort.InferenceSession.SessionOptions;

export const defaultSessionOptions = (): SessionOptions =>
  sessionOptions(
    { device: 'cpu', threads: DEFAULTS.threads, graphOptimizationLevel: DEFAULTS.graphOptimizationLevel },
    'cpu',
  );

export function createSession(
  onnx: Uint8Array,
  options: SessionOptions = defaultSessionOptions(),
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(graphFor('cpu', onnx), options);
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
