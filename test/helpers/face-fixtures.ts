/**
 * Tiny fixture face restorers that honour the face-model contract (input `input` [1,3,512,512]
 * RGB 0..1 → output `output` [1,3,512,512], optional `w` [1]) with a known per-pixel function,
 * built with Pixelift's own ONNX builder, so a test can state the composite they must give.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GraphBuilder } from '../../src/models/onnx/builder.js';

/** output = 1 − input (a negative): every restored pixel differs from the one it replaces. */
export function negativeRestorer(): Uint8Array {
  const g = new GraphBuilder('negative_face');
  const x = g.input('input', [1, 3, 512, 512]);
  g.output(g.node('Sub', [g.scalar('one', 1), x]), 'output', [1, 3, 512, 512]);
  return g.toBytes();
}

/** CodeFormer-like: output = w everywhere (w = fidelity), so a test can read w back. */
export function fidelityRestorer(): Uint8Array {
  const g = new GraphBuilder('fidelity_face');
  const x = g.input('input', [1, 3, 512, 512]);
  const w = g.input('w', [1]);
  g.output(g.node('Add', [g.node('Mul', [x, g.scalar('zero', 0)]), w]), 'output', [1, 3, 512, 512]);
  return g.toBytes();
}

/** Install `onnx` as a user face model `id` in `modelsDir` (an .onnx file and its manifest). */
export function installFaceModel(modelsDir: string, id: string, onnx: Uint8Array): void {
  fs.mkdirSync(modelsDir, { recursive: true });
  fs.writeFileSync(path.join(modelsDir, `${id}.onnx`), onnx);
  fs.writeFileSync(path.join(modelsDir, `${id}.json`), JSON.stringify({ scale: 1, kind: 'face' }));
}
