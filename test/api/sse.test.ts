/**
 * SSE backpressure over a real socket: a client that stops reading is dropped once its stream
 * holds more than the bound unsent, and when it reads again it finds every event it was sent,
 * whole and in order, then a `dropped` event saying to reconnect with Last-Event-ID.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import Fastify from 'fastify';
import { openSse, type SseStream } from '../../src/api/sse.js';

test('a client that stops reading is dropped with a `dropped` event once its buffer passes the bound', async (t) => {
  const limit = 64 * 1024;
  const app = Fastify();
  let stream: SseStream | undefined;
  const opened = new Promise<void>((resolve) => {
    app.get('/events', async (request, reply) => {
      stream = openSse(request, reply, 60_000, limit);
      resolve();
    });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const { port } = app.server.address() as net.AddressInfo;

  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  await opened;
  socket.pause(); // stops reading: the kernel buffers fill, then the response's own buffer grows

  const payload = 'x'.repeat(16 * 1024);
  let sent = 0;
  while (!stream!.dropped && sent < 5000) {
    stream!.send({ id: sent + 1, type: 'progress', data: { payload } });
    sent++;
    if (sent % 16 === 0) await new Promise((r) => setImmediate(r)); // let the socket drain what it can
  }
  assert.equal(stream!.dropped, true, `still open after ${sent} events (${sent * 16} KiB)`);
  await stream!.closed;

  socket.resume();
  await new Promise<void>((resolve) => socket.once('end', () => resolve()));
  const text = Buffer.concat(chunks).toString('utf8');
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  // Chunked transfer framing aside, the events are whole and in order, the last one `dropped`.
  const ids = [...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.ok(ids.length > 0 && ids.length < sent, `${ids.length} of ${sent} events reached the client`);
  assert.deepEqual(
    ids,
    ids.map((_, i) => i + 1),
    'no gap: what was sent arrived in order',
  );
  const last = /event: dropped\r?\n(?:[0-9a-f]+\r\n)?data: (\{.*\})/.exec(body);
  assert.ok(last, 'a dropped event ends the stream');
  const dropped = JSON.parse(last[1]!) as { reason: string; message: string };
  assert.equal(dropped.reason, 'slow_client');
  assert.match(dropped.message, /Last-Event-ID/);
  socket.destroy();
});
