/**
 * safeRequest against real servers bound to loopback. As in fetch-url.test.ts, no test can send
 * traffic off this machine: the one server a test treats as public is admitted by the predicate
 * form of allowPrivate, and forbidden targets are refused before any socket is opened (a trap
 * server on loopback proves it by receiving nothing).
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { type SafeRequestOptions, safeRequest } from '../../src/delivery/safe-request.js';
import { onlyPublic, serveLoopback } from '../helpers/loopback.js';
import { fakeDns, rejectsWith } from '../helpers/outbound.js';

const base = {
  method: 'POST',
  body: '{}',
  allowPrivate: false,
  timeoutMs: 5000,
} satisfies SafeRequestOptions;

// --- success ------------------------------------------------------------------------------------

test('POSTs the body and headers to the admitted server and returns status, headers and body', async (t) => {
  const server = await serveLoopback(t, (_req, res) => {
    res.writeHead(202, { 'x-receipt': 'r1' }).end('thanks');
  });
  const got = await safeRequest(`${server.origin}/hooks?team=7`, {
    ...base,
    body: '{"type":"job.completed"}',
    headers: { 'Content-Type': 'application/json', 'X-Custom': 'yes' },
    allowPrivate: onlyPublic(server.port),
  });
  assert.equal(got.status, 202);
  assert.equal(got.headers['x-receipt'], 'r1');
  assert.equal(got.body.toString(), 'thanks');
  assert.equal(got.truncated, false);
  const [req] = server.received;
  assert.equal(req?.method, 'POST');
  assert.equal(req?.url, '/hooks?team=7');
  assert.equal(req?.body.toString(), '{"type":"job.completed"}');
  assert.equal(req?.headers['content-type'], 'application/json');
  assert.equal(req?.headers['x-custom'], 'yes');
  assert.equal(req?.headers['content-length'], '24');
  assert.equal(req?.headers['user-agent'], 'Pixelift');
});

test('PUTs a binary body byte for byte; a caller may set the user-agent but not the content-length', async (t) => {
  const server = await serveLoopback(t, (_req, res) => res.writeHead(201).end());
  const body = Buffer.from([0, 255, 1, 254, 0x89, 0x50, 0x4e, 0x47]);
  const got = await safeRequest(`${server.origin}/upload/result.png`, {
    ...base,
    method: 'PUT',
    body,
    headers: { 'User-Agent': 'Custom/2', 'Content-Length': '1' },
    allowPrivate: onlyPublic(server.port),
  });
  assert.equal(got.status, 201);
  assert.equal(server.received[0]?.method, 'PUT');
  assert.deepEqual(server.received[0]?.body, body);
  assert.equal(server.received[0]?.headers['user-agent'], 'Custom/2');
  assert.equal(server.received[0]?.headers['content-length'], '8');
});

test('a non-2xx answer is returned, not thrown', async (t) => {
  const server = await serveLoopback(t, (req, res) => res.writeHead(Number(req.url.slice(1))).end('why'));
  for (const status of [400, 404, 429, 500, 503]) {
    const got = await safeRequest(`${server.origin}/${status}`, {
      ...base,
      allowPrivate: onlyPublic(server.port),
    });
    assert.equal(got.status, status);
    assert.equal(got.body.toString(), 'why');
  }
});

test('a 3xx is returned as is and its Location is not followed', async (t) => {
  const server = await serveLoopback(t, (req, res) => {
    if (req.url === '/start') res.writeHead(307, { location: '/elsewhere' }).end();
    else res.end('followed');
  });
  const got = await safeRequest(`${server.origin}/start`, { ...base, allowPrivate: onlyPublic(server.port) });
  assert.equal(got.status, 307);
  assert.equal(got.headers.location, '/elsewhere');
  assert.deepEqual(
    server.received.map((r) => r.url),
    ['/start'],
  );
});

test('the answer’s body is cut at maxResponseBytes (64 KiB by default) without error, closing the socket', async (t) => {
  // Streams without end: only an early close ends this exchange.
  const server = await serveLoopback(t, (_req, res) => {
    const chunk = Buffer.alloc(16 * 1024, 120);
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {}
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  const options = { ...base, allowPrivate: onlyPublic(server.port) };
  const got = await safeRequest(`${server.origin}/`, options);
  assert.equal(got.status, 200);
  assert.equal(got.body.length, 64 * 1024);
  assert.equal(got.truncated, true);
  await server.closed();
  const small = await safeRequest(`${server.origin}/`, { ...options, maxResponseBytes: 10 });
  assert.equal(small.body.toString(), 'xxxxxxxxxx');
  assert.equal(small.truncated, true);
});

test('a body of exactly maxResponseBytes is not marked truncated', async (t) => {
  const server = await serveLoopback(t, (_req, res) => res.end('0123456789'));
  const got = await safeRequest(`${server.origin}/`, {
    ...base,
    allowPrivate: onlyPublic(server.port),
    maxResponseBytes: 10,
  });
  assert.equal(got.body.toString(), '0123456789');
  assert.equal(got.truncated, false);
});

// --- forbidden targets --------------------------------------------------------------------------

for (const [host, address] of [
  ['127.0.0.1', '127.0.0.1'],
  ['169.254.169.254', '169.254.169.254'],
  ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
  ['[::1]', '::1'],
  ['10.0.0.5', '10.0.0.5'],
] as const) {
  test(`a webhook URL at ${host} is refused with url_forbidden when private addresses are not allowed`, async (t) => {
    const trap = await serveLoopback(t, (_req, res) => res.end('secret'));
    const dns = fakeDns({});
    const err = await rejectsWith(
      safeRequest(`http://${host}:${trap.port}/hook`, { ...base, lookup: dns.lookup }),
      'url_forbidden',
    );
    assert.equal(err.details.address, address);
    assert.equal(err.status, 400);
    assert.deepEqual(dns.calls, []);
    assert.deepEqual(trap.received, []);
  });
}

test('the predicate admits exactly the server it names: another loopback port is refused', async (t) => {
  const admitted = await serveLoopback(t, (_req, res) => res.end('ok'));
  const trap = await serveLoopback(t, (_req, res) => res.end('secret'));
  const options = { ...base, allowPrivate: onlyPublic(admitted.port) };
  await rejectsWith(safeRequest(`${trap.origin}/`, options), 'url_forbidden');
  assert.deepEqual(trap.received, []);
  assert.equal((await safeRequest(`${admitted.origin}/`, options)).status, 200);
});

test('a host name that resolves to a loopback address is refused without connecting', async (t) => {
  const trap = await serveLoopback(t, (_req, res) => res.end('secret'));
  const dns = fakeDns({ 'hooks.example.test': ['127.0.0.1'] });
  const err = await rejectsWith(
    safeRequest(`http://hooks.example.test:${trap.port}/`, { ...base, lookup: dns.lookup }),
    'url_forbidden',
  );
  assert.match(err.message, /hooks\.example\.test is a name that resolves to a private or local address/);
  assert.deepEqual(trap.received, []);
});

test('localhost is refused by name, before it is resolved', async (t) => {
  const trap = await serveLoopback(t, (_req, res) => res.end('secret'));
  const dns = fakeDns({});
  await rejectsWith(
    safeRequest(`http://localhost:${trap.port}/`, {
      ...base,
      allowPrivate: onlyPublic(trap.port),
      lookup: dns.lookup,
    }),
    'url_forbidden',
  );
  assert.deepEqual(dns.calls, []);
  assert.deepEqual(trap.received, []);
});

test('the host is resolved once and the connection pinned to the checked address (no DNS rebinding)', async (t) => {
  const server = await serveLoopback(t, (_req, res) => res.end('checked'));
  const dns = fakeDns({ 'rebind.example.test': (call) => (call === 1 ? ['127.0.0.1'] : ['127.0.0.2']) });
  const got = await safeRequest(`http://rebind.example.test:${server.port}/hook`, {
    ...base,
    allowPrivate: onlyPublic(server.port),
    lookup: dns.lookup,
  });
  assert.equal(got.body.toString(), 'checked');
  assert.deepEqual(dns.calls, ['rebind.example.test']);
  assert.equal(server.received[0]?.headers.host, `rebind.example.test:${server.port}`);
});

test('URLs that are not plain http(s) without credentials fail with url_invalid', async () => {
  for (const url of ['ftp://127.0.0.1/x', 'file:///etc/passwd', 'not a url', 'http://user:pw@127.0.0.1/']) {
    const err = await rejectsWith(safeRequest(url, { ...base, allowPrivate: true }), 'url_invalid');
    assert.doesNotMatch(err.message, /:pw@/);
  }
});

// --- network failures, time, cancellation -------------------------------------------------------

test('a refused connection fails with url_fetch_failed', async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const err = await rejectsWith(
    safeRequest(`http://127.0.0.1:${port}/`, { ...base, allowPrivate: onlyPublic(port) }),
    'url_fetch_failed',
  );
  assert.match(err.message, /ECONNREFUSED/);
  assert.equal(err.retryable, true);
});

test('a server that never answers fails with url_timeout after timeoutMs and the socket is closed', async (t) => {
  const server = await serveLoopback(t, () => {});
  const started = Date.now();
  const err = await rejectsWith(
    safeRequest(`${server.origin}/`, { ...base, allowPrivate: onlyPublic(server.port), timeoutMs: 200 }),
    'url_timeout',
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 190 && elapsed < 3000, `gave up after ${elapsed} ms`);
  assert.match(err.message, /took longer than 200 ms/);
  await server.closed();
});

test('aborting the signal stops the request with canceled', async (t) => {
  const server = await serveLoopback(t, () => {});
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await rejectsWith(
    safeRequest(`${server.origin}/`, {
      ...base,
      allowPrivate: onlyPublic(server.port),
      signal: controller.signal,
    }),
    'canceled',
  );
  await server.closed();
});

test('BAD CALL - method, timeoutMs, maxResponseBytes and allowPrivate are validated', async () => {
  const bad: [string, Partial<SafeRequestOptions>][] = [
    ['method', { method: 'GET' as 'POST' }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['timeoutMs', { timeoutMs: 2 ** 31 }],
    ['maxResponseBytes', { maxResponseBytes: -1 }],
    ['maxResponseBytes', { maxResponseBytes: 1.5 }],
    ['allowPrivate', { allowPrivate: 'yes' as unknown as boolean }],
    ['body', { body: 42 as unknown as string }],
  ];
  for (const [param, options] of bad) {
    const err = await rejectsWith(
      safeRequest('http://127.0.0.1/', { ...base, ...options }),
      'invalid_argument',
    );
    assert.equal(err.details.param, param);
  }
});
