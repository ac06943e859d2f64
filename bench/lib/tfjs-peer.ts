/**
 * The peer runtime: the same RRDN weights run by TF.js, the runtime they were published for.
 * `@tensorflow/tfjs-node` cannot be installed here (it downloads libtensorflow), so the
 * candidates are the wasm backend (SIMD) and the pure-JS cpu backend. The wasm backend
 * reports no multithread support in Node 20 (its threaded build starts pthread workers from
 * blob: URLs, which worker_threads rejects), so a 2-core machine is used the way a server
 * would: one single-threaded TF.js instance per core, each on its own tile.
 */
import { Worker } from 'node:worker_threads';
import type { PeerReply, PeerRequest, PeerWorkerData } from './tfjs-peer-worker.js';

export type PeerBackend = PeerWorkerData['backend'];

export interface PeerInfo {
  readonly backend: string;
  readonly simd: boolean;
  readonly multithread: boolean;
  readonly threads: number;
}

class PeerWorker {
  private pending: ((m: PeerReply) => void) | undefined;
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: PeerReply) => {
      const p = this.pending;
      this.pending = undefined;
      p?.(m);
    });
    worker.on('error', (err) => {
      this.failure = err;
      const p = this.pending;
      this.pending = undefined;
      p?.({ type: 'error', message: err.message });
    });
  }

  static async start(data: PeerWorkerData): Promise<{ worker: PeerWorker; info: PeerInfo }> {
    const w = new PeerWorker(
      new Worker(new URL('./tfjs-peer-worker.js', import.meta.url), { workerData: data }),
    );
    const ready = await w.next();
    if (ready.type !== 'ready') {
      await w.close();
      throw new Error(`TF.js ${data.backend}: ${ready.type === 'error' ? ready.message : ready.type}`);
    }
    const { type: _, ...info } = ready;
    return { worker: w, info };
  }

  private next(): Promise<PeerReply> {
    if (this.failure) return Promise.resolve({ type: 'error', message: this.failure.message });
    return new Promise((resolve) => {
      this.pending = resolve;
    });
  }

  async run(side: number, returnOutput = false): Promise<{ ms: number; output?: Float32Array }> {
    const reply = this.next();
    this.worker.postMessage({ type: 'run', side, returnOutput } satisfies PeerRequest);
    const m = await reply;
    if (m.type !== 'done') throw new Error(`TF.js run failed: ${m.type === 'error' ? m.message : m.type}`);
    return { ms: m.ms, output: m.output };
  }

  async close(): Promise<void> {
    this.worker.postMessage({ type: 'exit' } satisfies PeerRequest);
    await this.worker.terminate();
  }
}

/** N TF.js instances on one backend, driven in lock-step rounds. */
export class TfjsPeer {
  private constructor(
    private readonly workers: readonly PeerWorker[],
    readonly info: PeerInfo,
  ) {}

  static async start(backend: PeerBackend, modelDir: string, instances: number): Promise<TfjsPeer> {
    const started = await Promise.all(
      Array.from({ length: instances }, () => PeerWorker.start({ backend, modelDir, seed: 1 })),
    );
    return new TfjsPeer(
      started.map((s) => s.worker),
      started[0]!.info,
    );
  }

  get instances(): number {
    return this.workers.length;
  }

  /** Every instance runs one `side`² tile; returns the wall time until the last one finishes, ms. */
  async round(side: number): Promise<number> {
    const t = performance.now();
    await Promise.all(this.workers.map((w) => w.run(side)));
    return performance.now() - t;
  }

  /** One instance's output for a `side`² tile, NHWC. */
  async output(side: number): Promise<Float32Array> {
    const { output } = await this.workers[0]!.run(side, true);
    if (!output) throw new Error('TF.js returned no output');
    return output;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
