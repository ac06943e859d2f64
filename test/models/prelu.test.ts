/**
 * PRelu split into branch-free ops for the CPU provider (src/models/onnx/prelu.ts): the same
 * function as onnxruntime's own PRelu for any slope, the graph's names kept, graphs it must
 * not touch left alone, and createSession running the split graph on CPU.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { silentLogger } from '../../src/log.js';
import { GraphBuilder } from '../../src/models/onnx/builder.js';
import { mayHavePRelu, splitPRelu } from '../../src/models/onnx/prelu.js';
import { decodeModel, encodeModel, graphOf, opCounts } from '../../src/models/onnx/qdq.js';
import { createSession } from '../../src/models/session.js';

const pseudo = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.5);

/** Slopes of every kind: negative, in (0, 1), exactly 1, above 1. */
const SLOPES = Float32Array.of(-1.5, 0.25, 1, 1.9);

/** Conv (4 → 4) → PRelu → Conv (4 → 2), the shape of a compact SR network's body. */
function convPReluConv(slopeDims: number[] = [4, 1, 1], slopes: Float32Array = SLOPES): Uint8Array {
  const g = new GraphBuilder('compact');
  const conv = (input: string, cout: number, seed: number) =>
    g.node(
      'Conv',
      [
        input,
        g.tensor('w', pseudo(cout * 4 * 9, seed), [cout, 4, 3, 3]),
        g.tensor('b', pseudo(cout, seed + 1), [cout]),
      ],
      { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    );
  const act = g.node('PRelu', [
    conv(g.input('input', [1, 4, 'h', 'w']), 4, 1),
    g.tensor('slope', slopes, slopeDims),
  ]);
  g.output(conv(act, 2, 3), 'output', [1, 2, 'h', 'w']);
  return g.toBytes();
}

async function run(
  onnx: Uint8Array | ort.InferenceSession,
  data: Float32Array,
  dims: number[],
): Promise<Float32Array> {
  const session = onnx instanceof Uint8Array ? await ort.InferenceSession.create(onnx) : onnx;
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', data, dims) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const worst = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('a Conv → PRelu → Conv graph computes the same after the split, for slopes below 0, in (0, 1), 1 and above 1', async () => {
  const onnx = convPReluConv();
  const split = splitPRelu(onnx)!;
  assert.ok(split, 'the PRelu is split');
  const ops = opCounts(split);
  assert.equal(ops.get('PRelu'), undefined);
  assert.deepEqual([ops.get('Relu'), ops.get('Mul'), ops.get('Add')], [1, 2, 1]);
  const inits = graphOf(decodeModel(split)).initializer.map((t) => t.name);
  assert.ok(!inits.includes('slope'), 'the slope nothing reads any more is dropped');
  const data = Float32Array.from({ length: 4 * 24 * 24 }, (_, i) => Math.cos(i * 0.37) * 2);
  const [before, after] = [await run(onnx, data, [1, 4, 24, 24]), await run(split, data, [1, 4, 24, 24])];
  assert.ok(worst(before, after) < 1e-5, `output moved by ${worst(before, after)}`);
  // The output still varies: the comparison is not between two constants.
  assert.ok(Math.max(...before) - Math.min(...before) > 0.5);
});

test('the split PRelu gives x exactly for x ≥ 0 and a·x within an ulp of (1 − a)·x for x < 0, with one shared slope too', async () => {
  for (const [slope, dims] of [
    [SLOPES, [4, 1, 1]],
    [Float32Array.of(0.1), [1]],
  ] as const) {
    const g = new GraphBuilder('one');
    g.output(g.node('PRelu', [g.input('x', [1, 4, 1, 'n']), g.tensor('a', slope, dims)]), 'y', [
      1,
      4,
      1,
      'n',
    ]);
    const split = splitPRelu(g.toBytes())!;
    const n = 1000;
    const x = Float32Array.from({ length: 4 * n }, (_, i) => Math.fround((i % n) / 37 - 13.5));
    const y = await run(split, x, [1, 4, 1, n]);
    for (let i = 0; i < x.length; i++) {
      const a = slope.length === 1 ? slope[0]! : slope[Math.floor(i / n)]!;
      const v = x[i]!;
      const want = Math.fround(a * v);
      if (v >= 0) assert.equal(y[i], v, `x = ${v}, a = ${a}`);
      // Roundings of 1 − a, of the product (1 − a)·(−x) and of the sum, and `want`'s own.
      const bound = 2 ** -22 * (Math.abs((1 - a) * v) + Math.abs(want));
      if (v < 0) assert.ok(Math.abs(y[i]! - want) <= bound, `x = ${v}, a = ${a}: ${y[i]}`);
    }
  }
});

test('graphs with nothing to split come back undefined: no PRelu, a slope that is an input or overridable', () => {
  const relu = new GraphBuilder('relu');
  relu.output(relu.node('Relu', [relu.input('x', [1, 4])]), 'y', [1, 4]);
  assert.equal(splitPRelu(relu.toBytes()), undefined);

  const computed = new GraphBuilder('computed');
  computed.output(
    computed.node('PRelu', [computed.input('x', [1, 4]), computed.input('a', [4])]),
    'y',
    [1, 4],
  );
  assert.equal(splitPRelu(computed.toBytes()), undefined);

  // The slope is an initializer and also a graph input: a default the caller may feed.
  const model = decodeModel(convPReluConv());
  const g = graphOf(model);
  const slope = g.node.find((n) => n.opType === 'PRelu')!.input![1]!;
  g.input!.push({
    name: slope,
    type: { tensorType: { elemType: 1, shape: { dim: [4, 1, 1].map((d) => ({ dimValue: d })) } } },
  });
  assert.equal(splitPRelu(encodeModel(model)), undefined);
  assert.ok(splitPRelu(convPReluConv()), 'the same graph without that input is split');
});

test('createSession runs the split graph on CPU: its rounding, not PRelu’s, shows in the output', async () => {
  // Values x < 0 where x + (1 − a)·(−x), product and sum each rounded to float32, is not a·x
  // rounded once, as onnxruntime's PRelu gives it.
  const a = Math.fround(0.1);
  const k = Math.fround(1 - a);
  const tell: number[] = [];
  for (let i = 1; tell.length < 16 && i < 1e6; i++) {
    const v = -Math.fround(1 + i * 2 ** -20);
    if (Math.fround(v + Math.fround(k * -v)) !== Math.fround(a * v)) tell.push(v);
  }
  assert.equal(tell.length, 16, 'inputs that tell the two graphs apart exist');
  const g = new GraphBuilder('tell');
  g.output(g.node('PRelu', [g.input('x', [1, 16]), g.tensor('a', Float32Array.of(a), [1])]), 'y', [1, 16]);
  const onnx = g.toBytes();
  const x = Float32Array.from(tell);
  const plain = await run(onnx, x, [1, 16]);
  assert.deepEqual([...plain], [...x.map((v) => Math.fround(a * v))], 'onnxruntime’s PRelu returns a·x');
  const split = await run(splitPRelu(onnx)!, x, [1, 16]);
  // From bytes, and from a file as the store opens its models.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-prelu-')), 'tell.onnx');
  fs.writeFileSync(file, onnx);
  for (const model of [onnx, file]) {
    const { session } = await createSession(
      model,
      { device: 'cpu', threads: 1, graphOptimizationLevel: 'all' },
      silentLogger,
    );
    const viaCreate = await run(session, x, [1, 16]);
    assert.deepEqual([...viaCreate], [...split], typeof model);
    assert.notDeepEqual([...viaCreate], [...plain], typeof model);
  }
  // splitPRelu: false (benchmarks only) runs the graph as stored.
  const { session: stored } = await createSession(
    file,
    { device: 'cpu', threads: 1, graphOptimizationLevel: 'all', splitPRelu: false },
    silentLogger,
  );
  assert.deepEqual([...(await run(stored, x, [1, 16]))], [...plain]);
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('mayHavePRelu finds the op type in a file through its 4 MiB window, also across the window’s edge', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-prelu-'));
  const MiB4 = 4 * 2 ** 20;
  const fileWith = (name: string, size: number, at?: number) => {
    const b = Buffer.alloc(size, 0x50); // 'P', so that only the whole word matches
    if (at !== undefined) b.write('PRelu', at, 'latin1');
    const file = path.join(dir, name);
    fs.writeFileSync(file, b);
    return file;
  };
  try {
    for (const at of [0, MiB4 - 5, MiB4 - 4, MiB4 - 2, MiB4 - 1, MiB4, 2 * MiB4 + 3, 3 * MiB4 - 5])
      assert.equal(await mayHavePRelu(fileWith(`at-${at}`, 3 * MiB4, at)), true, `PRelu at ${at}`);
    assert.equal(await mayHavePRelu(fileWith('none', 3 * MiB4 + 7)), false);
    assert.equal(await mayHavePRelu(fileWith('empty', 0)), false);
    const partial = fileWith('partial', MiB4 + 4);
    fs.writeFileSync(
      partial,
      Buffer.concat([fs.readFileSync(partial).subarray(0, MiB4), Buffer.from('PRel')]),
    );
    assert.equal(await mayHavePRelu(partial), false, 'a word cut off by the end of the file');
    fs.writeFileSync(path.join(dir, 'net.onnx'), convPReluConv());
    assert.equal(await mayHavePRelu(path.join(dir, 'net.onnx')), true);
    fs.writeFileSync(path.join(dir, 'split.onnx'), splitPRelu(convPReluConv())!);
    assert.equal(await mayHavePRelu(path.join(dir, 'split.onnx')), false);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
