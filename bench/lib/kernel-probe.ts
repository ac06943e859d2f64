/**
 * Does onnxruntime's CPU provider have a Conv kernel for a given element type? Built as
 * input(float) → Cast → Conv(type) → Cast → output(float) and opened with the default session
 * options. Either session creation fails ("Could not find an implementation…"), or it
 * succeeds and the optimized graph shows how: a native kernel keeps a plain Conv, while
 * onnxruntime's InsertCastTransformer runs an fp16 node that has no fp16 kernel in fp32, after
 * which the Conv is an ordinary fp32 (NCHWc) one.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataType, GraphBuilder } from '../../src/models/onnx/builder.js';
import { floatToHalf, opCounts, withOpset } from './onnx-rewrite.js';
import { createSession, defaultSessionOptions, feed } from './ort-session.js';

export interface KernelProbe {
  readonly type: 'bfloat16' | 'float16';
  /** A native kernel runs Conv in this type. */
  readonly native: boolean;
  readonly opset: number;
  /** The runtime's own words, or what the optimized graph shows. */
  readonly evidence: string;
}

const bf16 = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16;

/** ONNX Conv admits bfloat16 only from opset 22; float16 from the start. */
const OPSET = { bfloat16: 22, float16: 17 } as const;

export async function probeConvKernel(type: KernelProbe['type']): Promise<KernelProbe> {
  const dt = type === 'bfloat16' ? DataType.BFLOAT16 : DataType.FLOAT16;
  const encode = type === 'bfloat16' ? bf16 : floatToHalf;
  const g = new GraphBuilder(`conv-${type}`);
  const x = g.node('Cast', [g.input('input', [1, 8, 16, 16])], { to: dt });
  const w = Uint16Array.from({ length: 8 * 8 * 9 }, (_, i) => encode(((i % 7) - 3) / 30));
  // GraphBuilder.tensor() takes float32; its weight-rewriting hook swaps in the 16-bit data.
  const weight = g.tensor('w', new Float32Array(w.length), [8, 8, 3, 3]);
  g.mapInitializers((n, t) => (n === weight ? { dims: t.dims, data: w, dataType: dt } : t));
  const y = g.node('Conv', [x, weight], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  g.output(g.node('Cast', [y], { to: DataType.FLOAT }), 'output', [1, 8, 16, 16]);
  const opset = OPSET[type];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pixelift-probe-'));
  const dump = path.join(tmp, 'optimized.onnx');
  try {
    const s = await createSession(withOpset(g.toBytes(), opset), {
      ...defaultSessionOptions(),
      optimizedModelFilePath: dump,
      logSeverityLevel: 3,
    });
    await s.run(feed(new Float32Array(8 * 16 * 16).fill(0.5), 8, 16));
    await s.release();
    const ops = opCounts(readFileSync(dump));
    const listed = [...ops].map(([op, n]) => `${n} ${op}`).join(', ');
    // NCHWc convolutions are fp32-only: finding one means the Conv was moved to fp32.
    const native = ![...ops.keys()].some((op) => op.includes('nchwc')) && ops.get('Conv') === 1;
    return {
      type,
      opset,
      native,
      evidence: `runs; optimized graph: ${listed}${native ? '' : ' — the Conv runs in fp32 (Casts inserted by InsertCastTransformer, then folded/eliminated)'}`,
    };
  } catch (err) {
    return { type, opset, native: false, evidence: (err as Error).message.split('\n')[0]!.slice(0, 240) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
