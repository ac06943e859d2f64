/**
 * What API nodes and workers tell each other through Redis, since they share nothing in
 * memory: job events (pub/sub: every node's SSE streams and `Prefer: wait` see every job),
 * cancellations (the worker running the job stops it), and worker heartbeats (keys that expire
 * when a worker stops renewing them).
 */
import type { Logger } from '../../log.js';
import type { JobEvent } from '../types.js';
import type { Redis } from './redis.js';

export interface WorkerBeat {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  /** Jobs it runs at once. */
  readonly concurrency: number;
  readonly busy: number;
  readonly at: string;
}

export class RedisFanout {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #onEvent = new Set<(e: JobEvent) => void>();
  readonly #onCancel = new Set<(jobId: string) => void>();
  #ready: Promise<unknown> | undefined;

  /** `pub` may be shared with other users; `sub` becomes a subscriber connection and must be this one's own. */
  constructor(pub: Redis, sub: Redis, prefix: string, log: Logger) {
    this.#pub = pub;
    this.#sub = sub;
    this.#prefix = prefix;
    this.#log = log;
    this.#sub.on('message', (channel: string, message: string) => this.#dispatch(channel, message));
  }

  /** Subscribe; resolves once Redis confirmed it (events published after that reach this node). */
  start(): Promise<unknown> {
    this.#ready ??= this.#sub.subscribe(this.#channel('events'), this.#channel('cancel'));
    return this.#ready;
  }

  onEvent(fn: (e: JobEvent) => void): void {
    this.#onEvent.add(fn);
  }

  onCancel(fn: (jobId: string) => void): void {
    this.#onCancel.add(fn);
  }

  async publishEvent(event: JobEvent): Promise<void> {
    await this.#pub.publish(this.#channel('events'), JSON.stringify(event));
  }

  async publishCancel(jobId: string): Promise<void> {
    await this.#pub.publish(this.#channel('cancel'), jobId);
  }

  /** Say this worker is alive for `ttlMs` more. */
  async beat(beat: WorkerBeat, ttlMs: number): Promise<void> {
    await this.#pub.set(this.#workerKey(beat.id), JSON.stringify(beat), 'PX', Math.ceil(ttlMs));
  }

  async retire(id: string): Promise<void> {
    await this.#pub.del(this.#workerKey(id));
  }

  /** Workers whose last heartbeat has not expired. */
  async liveWorkers(): Promise<WorkerBeat[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#pub.scan(cursor, 'MATCH', this.#workerKey('*'), 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.#pub.mget(...keys);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as WorkerBeat);
  }

  async close(): Promise<void> {
    this.#onEvent.clear();
    this.#onCancel.clear();
    await this.#sub.quit().catch(() => undefined);
  }

  #dispatch(channel: string, message: string): void {
    try {
      if (channel === this.#channel('events')) {
        const event = JSON.parse(message) as JobEvent;
        for (const fn of this.#onEvent) fn(event);
      } else if (channel === this.#channel('cancel')) {
        for (const fn of this.#onCancel) fn(message);
      }
    } catch (err) {
      this.#log.error({ err, channel }, 'fan-out: a listener failed');
    }
  }

  #channel(name: string): string {
    return `${this.#prefix}:${name}`;
  }

  #workerKey(id: string): string {
    return `${this.#prefix}:workers:${id}`;
  }
}
