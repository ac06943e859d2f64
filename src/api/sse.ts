/**
 * Server-sent events, written by hand: the protocol is four line types, and the plugins on
 * npm either buffer (breaking live progress) or lack Last-Event-ID support.
 * Each event carries its event-log id, so a client that reconnects with `Last-Event-ID`
 * gets exactly what it missed; comment lines every few seconds keep proxies from cutting
 * an idle stream.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStream {
  send(event: { id: number; type: string; data: unknown }): void;
  close(): void;
  readonly closed: Promise<void>;
}

export function openSse(request: FastifyRequest, reply: FastifyReply, heartbeatMs: number): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no', // nginx: do not buffer the stream
    'x-request-id': String(request.id),
  });
  res.write('retry: 2000\n\n');
  let open = true;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const heartbeat = setInterval(() => {
    if (open) res.write(`: ping ${new Date().toISOString()}\n\n`);
  }, heartbeatMs);
  const finish = () => {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
    resolveClosed();
  };
  request.raw.on('close', finish);
  res.on('close', finish);
  return {
    send(event) {
      if (!open) return;
      res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
    },
    close() {
      if (open) res.end();
      finish();
    },
    closed,
  };
}

/** Last-Event-ID header (or `?last_event_id=` for clients that cannot set headers), else 0. */
export function lastEventId(request: FastifyRequest): number {
  const raw = request.headers['last-event-id'] ?? (request.query as Record<string, unknown>)?.last_event_id;
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}
