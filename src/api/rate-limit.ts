/**
 * The per-key rate limit: a fixed one-minute window per key (per client address in open mode)
 * that counts work, not requests. A request costs 1 unless its route says otherwise (a Runware
 * task array costs one per task: issue 16 found one request carrying 1,100 tasks while the limit
 * said 599 of 600 left). In scale-out the counts live in Redis, shared by every API node;
 * embedded, in this process.
 *
 * Written here rather than with @fastify/rate-limit: the plugin counts one hit per request and
 * its store interface increments by one, so a weighted cost cannot be expressed through it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PixeliftError } from '../errors.js';
import type { Redis } from '../jobs/bullmq/redis.js';

export interface RateStore {
  /** Add `cost` to `key`'s count in the current window; the count after it and ms until the window ends. */
  hit(key: string, cost: number, windowMs: number): Promise<{ count: number; resetMs: number }>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a request to this route counts against the rate limit (default 1). */
    rateCost?: (request: FastifyRequest) => number;
  }
}

export const RATE_WINDOW_MS = 60_000;

export class MemoryRateStore implements RateStore {
  readonly #windows = new Map<string, { count: number; endsAt: number }>();

  async hit(key: string, cost: number, windowMs: number): Promise<{ count: number; resetMs: number }> {
    const now = Date.now();
    let w = this.#windows.get(key);
    if (!w || w.endsAt <= now) {
      if (this.#windows.size > 10_000) this.#prune(now);
      w = { count: 0, endsAt: now + windowMs };
      this.#windows.set(key, w);
    }
    w.count += cost;
    return { count: w.count, resetMs: w.endsAt - now };
  }

  #prune(now: number): void {
    for (const [key, w] of this.#windows) if (w.endsAt <= now) this.#windows.delete(key);
  }
}

/** INCRBY, and the window's expiry set by the hit that opened it, atomically. */
const HIT_SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {count, ttl}`;

export class RedisRateStore implements RateStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async hit(key: string, cost: number, windowMs: number): Promise<{ count: number; resetMs: number }> {
    const [count, ttl] = (await this.redis.eval(
      HIT_SCRIPT,
      1,
      `${this.prefix}:ratelimit:${key}`,
      cost,
      windowMs,
    )) as [number, number];
    return { count, resetMs: ttl };
  }
}

/** The preHandler hook: count the request's cost, set X-RateLimit-*, refuse with 429 past the limit. */
export function rateLimitHook(store: RateStore, max: number) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const cost = Math.max(1, Math.floor(request.routeOptions.config.rateCost?.(request) ?? 1));
    const key = request.caller?.keyId ?? `ip:${request.ip}`;
    const { count, resetMs } = await store.hit(key, cost, RATE_WINDOW_MS);
    const resetS = Math.max(1, Math.ceil(resetMs / 1000));
    reply
      .header('x-ratelimit-limit', String(max))
      .header('x-ratelimit-remaining', String(Math.max(0, max - count)))
      .header('x-ratelimit-reset', String(resetS));
    if (count > max) {
      throw new PixeliftError('rate_limited', { limit: max, window: 'minute', retryAfter: resetS });
    }
  };
}
