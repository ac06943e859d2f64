/** Redis connections, made one way: BullMQ's blocking commands need maxRetriesPerRequest: null. */
import { Redis } from 'ioredis';

export type { Redis } from 'ioredis';

export function connectRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: `pixelift:${name}`,
    // Reconnect with a capped backoff; a Redis restart must not take the node down.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // ioredis reports connection errors here and reconnects; without a listener they would throw.
  redis.on('error', () => undefined);
  return redis;
}
