/**
 * The worker pool (DESIGN §4): inference never runs in the server's or the CLI's process,
 * because onnxruntime-node's `session.run()` blocks its event loop for the whole run and
 * cannot be interrupted. Each job goes to a child process (child.ts) that runs one job at a
 * time and keeps its sessions warm; cancelling a running job kills its child.
 *
 * - Children are forked lazily, up to `size`; jobs beyond that wait in a FIFO queue.
 * - `signal` aborted before the job starts: it never reaches a child; while queued: it leaves
 *   the queue; while running: the child is SIGKILLed and the job rejects with `canceled` once
 *   the process is gone.
 * - A child that dies on its own fails its job with `worker_crashed` (retryable); a new child
 *   is forked when the next job needs one.
 * - Idle children do not keep the parent's event loop alive; busy ones do, so a pending job
 *   always gets its answer. Children still alive when the parent exits are killed.
 * - `onProgress` moves during a child's long blocking runs too: the child announces each one
 *   with its expected length, and the pool moves progress toward the run's end meanwhile
 *   (progress.ts); the child's own report, at the run's end, replaces the estimate.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerEnv } from '../config.js';
import type { UpscaleHooks, UpscaleOptions, UpscaleResult } from '../engine/pipeline.js';
import { invalidArgument, PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import { InterpolatedProgress } from './progress.js';
import {
  type ChildMessage,
  fromWireError,
  type JobId,
  type ParentMessage,
  type WorkerSettings,
} from './protocol.js';

/** Compiled next to this file; the pool always runs from dist/. */
const CHILD_SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));

export interface WorkerPoolOptions {
  /** Most children alive at once (config.workers). */
  readonly size: number;
  /** What each child builds its store from: the effective config (see `workerSettings`). */
  readonly settings: WorkerSettings;
  readonly log: Logger;
  /** How long a new child may take to load onnxruntime and sharp and say `ready`, ms. */
  readonly spawnTimeoutMs?: number;
  /** Node flags for the children; by default none, so a parent's --inspect or --test stays its own. */
  readonly execArgv?: readonly string[];
  /**
   * Scheduling priority of the children (nice, -20..19). Below normal by default: when the
   * workers fill every core, the parent (the API) still gets the CPU first.
   */
  readonly priority?: number;
}

const DEFAULTS = {
  spawnTimeoutMs: 30_000, // ms; a child is ready in ~0.3 s on a warm disk
  execArgv: [] as readonly string[],
  priority: os.constants.priority.PRIORITY_BELOW_NORMAL, // 10
};

/**
 * A killed job settles when its child has been reaped, so that "rejected" means "stopped". If
 * the kernel takes longer than this (ms) to take the process down, the job settles anyway.
 */
const KILL_GRACE_MS = 1000;

export interface PoolJob {
  /** Encoded image bytes, or the path of an image file (the child reads it). */
  readonly input: Buffer | string;
  readonly options: UpscaleOptions;
}

export interface PoolHooks extends UpscaleHooks {
  /** The job left the queue: a child has it now. */
  readonly onStart?: (worker: { readonly pid: number }) => void;
}

/** Why a child ended: killed to cancel its job, by close(), for not starting in time, or on its own. */
export type WorkerExitCause = 'canceled' | 'closed' | 'start_timeout' | 'crashed';

export interface WorkerExit {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly cause: WorkerExitCause;
  /** The job it had, if any. */
  readonly jobId: JobId | undefined;
}

export interface WorkerPoolEvents {
  'worker-spawn': [worker: { readonly pid: number }];
  'worker-exit': [exit: WorkerExit];
}

export interface PoolStats {
  readonly size: number;
  readonly starting: number;
  readonly busy: number;
  readonly idle: number;
  readonly queued: number;
  readonly pids: readonly number[];
}

interface Task {
  readonly id: JobId;
  readonly job: PoolJob;
  readonly hooks: PoolHooks;
  /** What `hooks.onProgress` is given: the child's reports, estimated between them. */
  readonly progress: InterpolatedProgress | undefined;
  /** Both settle at most once. */
  readonly resolve: (result: UpscaleResult) => void;
  readonly reject: (error: Error) => void;
}

interface Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  state: 'starting' | 'idle' | 'busy';
  /** Assigned at fork (it runs once the child is ready) or when taken from the queue. */
  task: Task | undefined;
  /** Set when the pool ends the child itself, so that its exit is not taken for a crash. */
  killedFor: Exclude<WorkerExitCause, 'crashed'> | undefined;
  startTimer: NodeJS.Timeout | undefined;
  readonly exited: Promise<void>;
  readonly markExited: () => void;
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  private readonly options: Required<WorkerPoolOptions>;
  private readonly workers = new Set<Worker>();
  private readonly queue: Task[] = [];
  private lastId = 0;
  private closing: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions) {
    super();
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const o = { ...DEFAULTS, ...given } as Required<WorkerPoolOptions>;
    if (!Number.isInteger(o.size) || o.size < 1) throw invalidArgument('size', 'positive integer', o.size);
    if (!(o.spawnTimeoutMs > 0)) throw invalidArgument('spawnTimeoutMs', 'positive number', o.spawnTimeoutMs);
    if (!Number.isInteger(o.priority) || o.priority < -20 || o.priority > 19) {
      throw invalidArgument('priority', 'integer in [-20, 19]', o.priority);
    }
    this.options = o;
  }

  /** Upscale one image in a child process. Rejects with `canceled` when `hooks.signal` aborts. */
  run(job: PoolJob, hooks: PoolHooks = {}): Promise<UpscaleResult> {
    if (this.closing) return Promise.reject(closedError());
    const { signal } = hooks;
    if (signal?.aborted) return Promise.reject(new PixeliftError('canceled'));
    const input = typeof job.input === 'string' ? path.resolve(job.input) : job.input;
    return new Promise<UpscaleResult>((resolve, reject) => {
      let settled = false;
      const { onProgress } = hooks;
      const progress = onProgress
        ? new InterpolatedProgress((f) => this.call(() => onProgress(f)))
        : undefined;
      const once =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          progress?.stop();
          fn(value);
        };
      const task: Task = {
        id: ++this.lastId,
        job: { ...job, input },
        hooks,
        progress,
        resolve: once(resolve),
        reject: once(reject),
      };
      const onAbort = () => this.cancel(task);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(task);
      this.pump();
    });
  }

  stats(): PoolStats {
    const workers = [...this.workers];
    const count = (state: Worker['state']) => workers.filter((w) => w.state === state).length;
    return {
      size: this.options.size,
      starting: count('starting'),
      busy: count('busy'),
      idle: count('idle'),
      queued: this.queue.length,
      pids: workers.map((w) => w.pid),
    };
  }

  /** Kill every child, reject queued and running jobs with `canceled`; resolves once all are gone. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const task of this.queue.splice(0)) task.reject(closedError());
      const workers = [...this.workers];
      for (const w of workers) this.kill(w, 'closed');
      await Promise.all(workers.map((w) => w.exited));
    })();
    return this.closing;
  }

  /** Hand queued jobs to idle children, forking new ones while below `size`. */
  private pump(): void {
    while (this.queue.length > 0 && !this.closing) {
      const idle = [...this.workers].find((w) => w.state === 'idle');
      if (idle) this.start(idle, this.queue.shift()!);
      else if (this.workers.size < this.options.size) this.spawn(this.queue.shift()!);
      else return;
    }
  }

  private spawn(task: Task): void {
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    let child: ChildProcess;
    try {
      child = fork(CHILD_SCRIPT, [], {
        serialization: 'advanced',
        execArgv: [...this.options.execArgv],
        env: workerEnv(),
        // The child's stdout goes to our stderr: the CLI's stdout carries only results (--json).
        stdio: ['ignore', 2, 'inherit', 'ipc'],
      });
    } catch (err) {
      const reason = `it could not be started: ${(err as Error).message}`;
      task.reject(new PixeliftError('worker_crashed', { reason }, { cause: err }));
      return;
    }
    const w: Worker = {
      child,
      pid: child.pid ?? 0,
      state: 'starting',
      task,
      killedFor: undefined,
      startTimer: undefined,
      exited,
      markExited,
    };
    this.workers.add(w);
    liveChildren.add(child);
    installExitHook();
    w.startTimer = setTimeout(() => this.kill(w, 'start_timeout'), this.options.spawnTimeoutMs);
    child.on('message', (message: ChildMessage) => this.onMessage(w, message));
    child.on('exit', (code, signal) => this.onExit(w, code, signal));
    child.on('error', (err) => this.onError(w, err));
    if (child.pid !== undefined) {
      this.setPriority(child.pid);
      this.options.log.debug({ pid: child.pid }, 'worker process started');
      this.emit('worker-spawn', { pid: child.pid });
    }
  }

  /**
   * Set right after the fork, before the child creates its onnxruntime and libvips threads,
   * which inherit it (Linux niceness is per thread).
   */
  private setPriority(pid: number): void {
    try {
      os.setPriority(pid, this.options.priority);
    } catch (err) {
      this.options.log.debug({ pid, err: (err as Error).message }, 'could not lower worker priority');
    }
  }

  private start(w: Worker, task: Task): void {
    w.state = 'busy';
    w.task = task;
    setRef(w.child, true);
    const { input, options } = task.job;
    this.send(w, { type: 'run', jobId: task.id, input, options });
    this.call(() => task.hooks.onStart?.({ pid: w.pid }));
  }

  private onMessage(w: Worker, message: ChildMessage): void {
    // Once the pool has decided to kill a child, nothing it still says counts.
    if (w.killedFor) return;
    if (message.type === 'ready') {
      if (w.state !== 'starting') return;
      clearTimeout(w.startTimer);
      this.send(w, { type: 'init', settings: this.options.settings });
      if (w.task) this.start(w, w.task);
      else this.release(w);
      return;
    }
    const task = w.task;
    if (!task || task.id !== message.jobId) return;
    switch (message.type) {
      case 'progress':
        task.progress?.report(message.fraction);
        break;
      case 'estimate':
        task.progress?.estimate(message.estimate);
        this.call(() => task.hooks.onEstimate?.(message.estimate));
        break;
      case 'notice':
        this.call(() => task.hooks.onNotice?.(message.message));
        break;
      case 'done':
        this.release(w);
        task.resolve({ data: message.data, info: message.info });
        break;
      case 'failed':
        this.release(w);
        task.reject(fromWireError(message.error));
        break;
    }
  }

  /** The child is free: give it the next job, or let it idle without holding the process open. */
  private release(w: Worker): void {
    w.state = 'idle';
    w.task = undefined;
    setRef(w.child, false);
    this.pump();
  }

  private cancel(task: Task): void {
    const at = this.queue.indexOf(task);
    if (at >= 0) {
      this.queue.splice(at, 1);
      task.reject(new PixeliftError('canceled'));
      return;
    }
    const w = [...this.workers].find((x) => x.task === task);
    if (w) this.kill(w, 'canceled');
  }

  private kill(w: Worker, cause: Exclude<WorkerExitCause, 'crashed'>): void {
    w.killedFor ??= cause;
    clearTimeout(w.startTimer);
    setRef(w.child, true); // hold the process open until it is reaped: close() awaits that
    w.child.kill('SIGKILL');
    const task = w.task;
    if (!task) return;
    setTimeout(() => {
      if (!this.workers.has(w)) return; // reaped in time: its exit settled the job
      this.options.log.warn({ pid: w.pid, ms: KILL_GRACE_MS }, 'killed worker process has not exited yet');
      task.reject(this.errorFor(w.killedFor ?? cause, null, 'SIGKILL'));
    }, KILL_GRACE_MS).unref();
  }

  private onExit(w: Worker, code: number | null, signal: NodeJS.Signals | null, reason?: string): void {
    if (!this.workers.delete(w)) return;
    liveChildren.delete(w.child);
    clearTimeout(w.startTimer);
    const task = w.task;
    w.task = undefined;
    const cause = w.killedFor ?? 'crashed';
    const exit: WorkerExit = { pid: w.pid, code, signal, cause, jobId: task?.id };
    if (cause === 'crashed') {
      this.options.log.warn(
        { ...exit, reason },
        task ? 'worker process died while running a job' : 'idle worker process died',
      );
    } else {
      this.options.log.debug(exit, 'worker process ended');
    }
    if (task) task.reject(this.errorFor(cause, code, signal, reason));
    w.markExited();
    this.emit('worker-exit', exit);
    this.pump();
  }

  private onError(w: Worker, err: Error): void {
    if (w.child.pid === undefined) {
      // The fork itself failed (e.g. EAGAIN): there will be no 'exit'.
      this.onExit(w, null, null, `it could not be started: ${err.message}`);
      return;
    }
    this.options.log.warn({ pid: w.pid, err: err.message }, 'worker process IPC error; killing it');
    w.child.kill('SIGKILL');
  }

  private errorFor(
    cause: WorkerExitCause,
    code: number | null,
    signal: NodeJS.Signals | null,
    reason?: string,
  ): PixeliftError {
    switch (cause) {
      case 'canceled':
        return new PixeliftError('canceled');
      case 'closed':
        return closedError();
      case 'start_timeout':
        return new PixeliftError('worker_crashed', {
          reason: `it did not start within ${this.options.spawnTimeoutMs} ms`,
        });
      case 'crashed':
        return new PixeliftError('worker_crashed', {
          reason: reason ?? (signal ? `signal ${signal}` : `exit code ${code}`),
        });
    }
  }

  private send(w: Worker, message: ParentMessage): void {
    // A failed send means the child is gone or going; its 'exit' settles the job.
    w.child.send(message, undefined, undefined, (err) => {
      if (err) this.onError(w, err);
    });
  }

  /** Caller hooks run inside IPC handlers; one that throws must not take the pool down. */
  private call(hook: () => void): void {
    try {
      hook();
    } catch (err) {
      this.options.log.warn({ err }, 'a job hook threw');
    }
  }
}

function closedError(): PixeliftError {
  return new PixeliftError('canceled', { reason: 'the worker pool was closed' });
}

/** Busy children keep the parent alive until they answer; idle ones must not keep it from exiting. */
function setRef(child: ChildProcess, ref: boolean): void {
  if (ref) {
    child.ref();
    child.channel?.ref();
  } else {
    child.unref();
    child.channel?.unref();
  }
}

/**
 * Every child of every pool, killed when this process exits. An idle child would leave on its
 * own when the IPC channel closes, but one inside `session.run()` would finish its tile first.
 */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}
