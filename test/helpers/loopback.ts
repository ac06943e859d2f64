/**
 * A real HTTP server on 127.0.0.1 for tests of outbound requests: it records every request
 * (method, path, headers, body) and closes with the test. Nothing listens beyond loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface LoopbackServer {
  port: number;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Every request received, in order, with its whole body. */
  received: ReceivedRequest[];
  /** Resolves when a connection the server accepted has closed. */
  closed: () => Promise<void>;
}

/**
 * `handler` runs once the request body has arrived; `received` already holds the request.
 */
export async function serveLoopback(
  t: TestContext,
  handler: (req: ReceivedRequest, res: http.ServerResponse) => void,
): Promise<LoopbackServer> {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(request);
      handler(request, res);
    });
  });
  let onClose: () => void = () => {};
  const closedOnce = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  server.on('connection', (socket) => socket.on('close', onClose));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  return { port, origin: `http://127.0.0.1:${port}`, received, closed: () => closedOnce };
}

/**
 * The allowPrivate predicate that lets exactly one loopback server stand in for a public host:
 * every other private address stays refused.
 */
export const onlyPublic =
  (port: number) =>
  (address: string, p: number): boolean =>
    address === '127.0.0.1' && p === port;
