/**
 * Server-sent events, written by hand: the protocol is four line types, and the plugins on
 * npm either buffer (breaking live progress) or lack Last-Event-ID support.
 * Each event carries its event-log id, so a client that reconnects with `Last-Event-ID`
 * gets exactly what it missed; comment lines every few seconds keep proxies from cutting
 * an idle stream.
 *
 * Backpressure: what a client has not read yet stays in the response's buffer, so a client that
 * stops reading would grow the server's memory without end (issue 16). Each stream may hold at
 * most `maxBufferBytes` unsent; past that the client is dropped: a final `dropped` event (no id,
 * so that Last-Event-ID still names the last event it was sent in full) tells it to reconnect
 * with Last-Event-ID, which replays what it missed from the event log.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JobEvent } from '../jobs/types.js';
import type { Uses } from './deps.js';

export interface SseStream {
  send(event: { id: number; type: string; data: unknown }): void;
  close(): void;
  /** Resolves when the stream has ended, whoever ended it. */
  readonly closed: Promise<void>;
  /** True once the stream was ended because the client read too slowly. */
  readonly dropped: boolean;
}

/** Unsent bytes a stream may hold before its client is dropped: about 16 full job events. */
export const SSE_MAX_BUFFER_BYTES = 1024 * 1024;
/** A dropped client's socket is destroyed after this long if it still has not read its last event, ms. */
const DROP_GRACE_MS = 5_000;

export function openSse(
  request: FastifyRequest,
  reply: FastifyReply,
  heartbeatMs: number,
  maxBufferBytes = SSE_MAX_BUFFER_BYTES,
): SseStream {
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
  let dropped = false;
  const finish = () => {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
    resolveClosed();
  };
  const drop = (pending: number) => {
    dropped = true;
    const data = {
      reason: 'slow_client',
      message: `The client read too slowly: more than ${maxBufferBytes} bytes were waiting to be sent. Reconnect with Last-Event-ID to get what was missed.`,
      buffered_bytes: pending,
    };
    // Close the connection, not only the response (keep-alive would hold it): gracefully once
    // the client has read what is queued, and at once if it still has not after a grace period.
    const socket = res.socket;
    res.once('finish', () => socket?.end());
    res.end(`event: dropped\ndata: ${JSON.stringify(data)}\n\n`);
    setTimeout(() => socket?.destroy(), DROP_GRACE_MS).unref();
    request.log.warn({ bufferedBytes: pending }, 'SSE client dropped: it read too slowly');
    finish();
  };
  /** Write unless the client is so far behind that this would pass the bound; then drop it. */
  const write = (text: string) => {
    if (!open) return;
    const pending = res.writableLength + Buffer.byteLength(text);
    if (pending > maxBufferBytes) drop(pending);
    else res.write(text);
  };
  const heartbeat = setInterval(() => write(`: ping ${new Date().toISOString()}\n\n`), heartbeatMs);
  request.raw.on('close', finish);
  res.on('close', finish);
  return {
    send(event) {
      write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
    },
    close() {
      if (open) res.end();
      finish();
    },
    closed,
    get dropped() {
      return dropped;
    },
  };
}

/** Last-Event-ID header (or `?last_event_id=` for clients that cannot set headers), else 0. */
export function lastEventId(request: FastifyRequest): number {
  const raw = request.headers['last-event-id'] ?? (request.query as Record<string, unknown>)?.last_event_id;
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * A stream of job events: history from `replay`, then live from the bus, each event once and in
 * order. The bus is subscribed before the replay is read, so no event falls between the two;
 * the stream closes when the server shuts down or after an event `closeAfter` names.
 */
export async function followEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: Uses<{ jobs: 'events'; lifecycle: 'shutdownSignal'; settings: 'heartbeatMs' }>,
  o: {
    readonly filter: (e: JobEvent) => boolean;
    readonly replay: (afterId: number) => Promise<JobEvent[]> | JobEvent[];
    /** The SSE event name and data of a job event; undefined: not sent on this stream. */
    readonly present: (e: JobEvent) => { readonly type: string; readonly data: unknown } | undefined;
    readonly closeAfter?: (e: JobEvent) => boolean;
  },
): Promise<void> {
  const after = lastEventId(request);
  const buffered: JobEvent[] = [];
  let live = false;
  let lastSent = after;
  const sse = openSse(request, reply, deps.settings.heartbeatMs);
  const send = (e: JobEvent) => {
    if (e.id <= lastSent) return;
    const shown = o.present(e);
    if (!shown) return;
    lastSent = e.id;
    sse.send({ id: e.id, ...shown });
    if (o.closeAfter?.(e)) sse.close();
  };
  const onEvent = (e: JobEvent) => {
    if (!o.filter(e)) return;
    if (live) send(e);
    else buffered.push(e);
  };
  deps.jobs.events.bus.on('event', onEvent);
  const onShutdown = () => sse.close();
  deps.lifecycle.shutdownSignal.addEventListener('abort', onShutdown, { once: true });
  void sse.closed.then(() => {
    deps.jobs.events.bus.off('event', onEvent);
    deps.lifecycle.shutdownSignal.removeEventListener('abort', onShutdown);
  });
  for (const e of await o.replay(after)) send(e);
  for (const e of buffered) send(e);
  live = true;
}
