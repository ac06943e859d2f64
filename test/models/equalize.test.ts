/**
 * Equalizing the channels a Concat joins (src/models/onnx/equalize.ts): found where a
 * Conv → LeakyRelu output reaches Convs only through Concats, and the rescaled graph computes
 * the same function while the Conv's channels are scaled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { float, GraphBuilder } from '../../src/models/onnx/builder.js';
import { concatJoins, equalizeJoins } from '../../src/models/onnx/equalize.js';
import { exposeTensors } from '../../src/models/onnx/qdq.js';

const pseudo = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.5);

/** input (4 ch) and Conv → LeakyRelu (3 ch) joined twice: Concat(input, act) and Concat(act, input). */
function denseBlock(extraReader = false): Uint8Array {
  const g = new GraphBuilder('dense');
  const x = g.input('input', [1, 4, 'h', 'w']);
  const conv = (input: string, cout: number, cin: number, seed: number, name: string) =>
    g.node(
      'Conv',
      [
        input,
        g.tensor('w', pseudo(cout * cin * 9, seed), [cout, cin, 3, 3]),
        g.tensor('b', pseudo(cout, seed + 1), [cout]),
      ],
      { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
      name,
    );
  const act = g.node('LeakyRelu', [conv(x, 3, 4, 1, 'first')], { alpha: float(0.2) });
  const a = conv(g.node('Concat', [x, act], { axis: 1 }), 2, 7, 2, 'after');
  const joinedFirst = g.node('Concat', [act, x], { axis: 1 });
  const b = conv(joinedFirst, 2, 7, 3, 'before');
  g.output(g.node('Add', [a, b]), 'output', [1, 2, 'h', 'w']);
  if (extraReader) g.output(joinedFirst, 'joined', [1, 7, 'h', 'w']);
  return g.toBytes();
}

async function run(onnx: Uint8Array, outputs: readonly string[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(onnx);
  try {
    const data = Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.cos(i * 0.37) * 2);
    const result = await session.run({ input: new ort.Tensor('float32', data, [1, 4, 8, 8]) });
    return outputs.map((o) => result[o]!.data as Float32Array);
  } finally {
    await session.release();
  }
}

test('concatJoins finds a Conv → LeakyRelu joined with the input, with its channel offset in each reader', () => {
  const joins = concatJoins(denseBlock());
  assert.equal(joins.length, 1);
  const [j] = joins;
  assert.equal(j!.first, 'first');
  assert.deepEqual(j!.joined, ['input']);
  assert.deepEqual(
    [...j!.readers].sort((p, q) => p.conv.localeCompare(q.conv)),
    [
      { conv: 'after', offset: 4 },
      { conv: 'before', offset: 0 },
    ],
  );
});

test('equalizeJoins scales the Conv channels and leaves the network output as it was', async () => {
  const onnx = denseBlock();
  const scales = Float32Array.of(0.5, 0.25, 2);
  const equalized = equalizeJoins(onnx, concatJoins(onnx), new Map([['first', scales]]));
  const [out0, first0] = await run(exposeTensors(onnx, ['first']), ['output', 'first']);
  const [out1, first1] = await run(exposeTensors(equalized, ['first']), ['output', 'first']);
  let worst = 0;
  for (let i = 0; i < out0!.length; i++) worst = Math.max(worst, Math.abs(out0![i]! - out1![i]!));
  assert.ok(worst < 1e-4, `output moved by ${worst}`);
  const plane = 64;
  for (let c = 0; c < 3; c++)
    for (let i = c * plane; i < (c + 1) * plane; i += 7)
      assert.ok(
        Math.abs(first1![i]! - first0![i]! * scales[c]!) < 1e-4,
        `channel ${c} scaled by ${scales[c]}`,
      );
});

test('EXPECTED FAILURE - a Concat that something other than a Conv reads (here a graph output) is not equalized', () => {
  assert.deepEqual(concatJoins(denseBlock(true)), []);
});
