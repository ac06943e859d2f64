/**
 * onnxruntime sessions on a chosen execution provider (DESIGN §4): `cpu` always, `webgpu`
 * (bundled in onnxruntime-node; Dawn over Vulkan on Linux) when asked for, and `auto` = webgpu
 * when an adapter exists, else cpu with one log line.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import type { Device, GraphOptimizationLevel } from '../config.js';
import { PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import { GraphBuilder } from './onnx/builder.js';
import { mayHavePRelu, splitPRelu } from './onnx/prelu.js';

export type ResolvedDevice = 'cpu' | 'webgpu';

export interface SessionSettings {
  readonly device: Device;
  /** onnxruntime intra-op threads. */
  readonly threads: number;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  /**
   * Run PRelu split into branch-free ops on CPU (graphFor). Default true; false runs the stored
   * graph, for benchmarks that set the two side by side (bench/prelu-probe.ts --e2e).
   */
  readonly splitPRelu?: boolean;
}

export interface WebGpuProbe {
  readonly available: boolean;
  readonly reason?: string;
}

let probe: Promise<WebGpuProbe> | undefined;

/**
 * Whether a WebGPU adapter exists. Asked in a child process because Dawn prints its adapter
 * search (e.g. "Couldn't load Vulkan") straight to the native stderr, which a CLI user should
 * not see; the answer is cached for the life of the process (~150 ms once).
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  probe ??= new Promise((resolve) => {
    const g = new GraphBuilder('probe');
    g.output(g.node('Relu', [g.input('x', [1, 4])]), 'y', [1, 4]);
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const script = `
      const ort = require(${JSON.stringify(ortPath)});
      const bytes = Buffer.from(${JSON.stringify(Buffer.from(g.toBytes()).toString('base64'))}, 'base64');
      ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] })
        .then(() => { process.stdout.write('ok'); process.exit(0); })
        .catch((e) => { process.stdout.write(String(e && e.message || e)); process.exit(0); });`;
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (err, stdout) => {
      if (err) resolve({ available: false, reason: err.message });
      else if (stdout === 'ok') resolve({ available: true });
      else resolve({ available: false, reason: lastSentence(stdout) });
    });
  });
  return probe;
}

function lastSentence(message: string): string {
  const m = /Failed to get a WebGPU adapter[^\n]*/.exec(message);
  return (m?.[0] ?? message.split('\n').pop() ?? message).trim().slice(0, 200);
}

let autoLogged = false;

/**
 * `auto` is decided by the probe, not by handing onnxruntime the list `['webgpu', 'cpu']`,
 * because in onnxruntime-node 1.30 the list does not behave the same. Measured on a machine with
 * no GPU (no libvulkan), a one-Relu model: `['webgpu', 'cpu']` does not fall back to cpu, session
 * creation throws "Failed to get a WebGPU adapter" exactly as `['webgpu']` does (the list orders
 * the providers that nodes are assigned to once every provider has initialised; it is not a list
 * of devices to try). And a session cannot say which provider it got (InferenceSession has no
 * such getter; only a profiling file or verbose native logs would tell), while jobs and
 * /v1/models report the device. Dawn's adapter search also prints to the native stderr, which
 * the probe keeps in its child process.
 */

export async function resolveDevice(device: Device, log: Logger): Promise<ResolvedDevice> {
  if (device === 'cpu') return 'cpu';
  const p = await probeWebGpu();
  if (p.available) return 'webgpu';
  if (device === 'webgpu') {
    throw new PixeliftError('device_unavailable', { device, reason: p.reason ?? 'no adapter' });
  }
  if (!autoLogged) {
    autoLogged = true;
    log.info({ reason: p.reason }, 'device auto: no WebGPU adapter found, running on CPU');
  }
  return 'cpu';
}

export interface OpenedSession {
  readonly session: ort.InferenceSession;
  readonly device: ResolvedDevice;
}

/** The options every Pixelift session is opened with (benches open theirs with these too). */
export function sessionOptions(
  settings: SessionSettings,
  device: ResolvedDevice,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [device],
    intraOpNumThreads: settings.threads,
    // One model runs at a time per session; parallelism comes from intra-op threads.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: settings.graphOptimizationLevel,
    // The memory-pattern planner pre-allocates one block for every intermediate of a run:
    // measured on realesrgan-x4plus with a 352 px tile, peak RSS 3.05 GB with it, 1.73 GB
    // without, and no slower (16.8 vs 18.5 s/run). The arena stays: without it runs are 1.7x slower.
    enableMemPattern: false,
  };
}

export async function createSession(
  model: Uint8Array | string,
  settings: SessionSettings,
  log: Logger,
): Promise<OpenedSession> {
  const device = await resolveDevice(settings.device, log);
  const options = sessionOptions(settings, device);
  try {
    const graph = device === 'cpu' && settings.splitPRelu !== false ? await forCpu(model) : model;
    const session =
      typeof graph === 'string'
        ? await ort.InferenceSession.create(graph, options)
        : await ort.InferenceSession.create(graph, options);
    return { session, device };
  } catch (err) {
    throw new PixeliftError(
      'inference_failed',
      { message: `could not open session: ${(err as Error).message}` },
      { cause: err },
    );
  }
}

/**
 * The graph a session on `device` runs, and the one segment plans are cut from: on CPU, PRelu
 * split into branch-free ops (onnx/prelu.ts; x4fast end to end 1.11× faster in fp32, 1.38× in
 * int8, for one more feature map alive).
 */
export function graphFor(
  device: ResolvedDevice,
  bytes: Uint8Array,
  settings?: Pick<SessionSettings, 'splitPRelu'>,
): Uint8Array {
  return device === 'cpu' && settings?.splitPRelu !== false ? (splitPRelu(bytes) ?? bytes) : bytes;
}

/**
 * graphFor on CPU. A path stays a path (onnxruntime reads it, and resolves external weights
 * beside it) unless the graph is rewritten; it is read whole only if it may hold a PRelu. A file
 * that cannot be read or decoded goes to onnxruntime, which says what is wrong.
 */
async function forCpu(model: Uint8Array | string): Promise<Uint8Array | string> {
  try {
    if (typeof model === 'string' && !(await mayHavePRelu(model))) return model;
    const bytes = typeof model === 'string' ? await fs.promises.readFile(model) : model;
    const graph = graphFor('cpu', bytes);
    return graph === bytes ? model : graph;
  } catch {
    return model;
  }
}
