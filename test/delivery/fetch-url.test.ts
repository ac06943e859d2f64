/**
 * fetchUrl end to end against real servers, all bound to loopback.
 *
 * No test can send traffic off this machine, even if fetchUrl regressed: "public" is never a real
 * public address. Instead `allowPrivate` takes its predicate form, which admits exactly one
 * loopback server (127.0.0.1 and its port) as a stand-in for a public host, and every other
 * private address stays refused. Injected resolvers only ever answer with loopback addresses;
 * hostile literals that would route elsewhere (10/8, 169.254.169.254, NAT64…) are classified in
 * forbidden-address.test.ts without a socket. Refusals are proven by a "trap" server on the
 * address that must not be reached: it counts requests, and the count must stay at zero.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { type FetchUrlOptions, fetchUrl, type ResolvedAddress } from '../../src/delivery/fetch-url.js';
import { ERRORS } from '../../src/errors.js';
import { onlyPublic } from '../helpers/loopback.js';
import { fakeDns, rejectsWith } from '../helpers/outbound.js';
import { SELF_SIGNED_CERT, SELF_SIGNED_KEY } from '../helpers/tls-self-signed.js';

interface Loopback {
  port: number;
  origin: string;
  /** `host header + path` of every request received, in order. */
  hits: string[];
  /** Resolves when a connection the server accepted has closed. */
  closed: () => Promise<void>;
  /** TLS only: the server name (SNI) of every handshake. */
  sni: string[];
}

async function serve(
  t: TestContext,
  handler: http.RequestListener,
  { host = '127.0.0.1', port = 0, tls = false } = {},
): Promise<Loopback> {
  const hits: string[] = [];
  const sni: string[] = [];
  const listener: http.RequestListener = (req, res) => {
    hits.push(`${req.headers.host}${req.url}`);
    handler(req, res);
  };
  const server = tls
    ? https.createServer(
        {
          key: SELF_SIGNED_KEY,
          cert: SELF_SIGNED_CERT,
          SNICallback: (name, done) => {
            sni.push(name);
            done(null); // go on with the default certificate
          },
        },
        listener,
      )
    : http.createServer(listener);
  let onClose: () => void = () => {};
  const closedOnce = new Promise<void>((resolve) => {
    onClose = resolve;
  });
  server.on('connection', (socket) => socket.on('close', onClose));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    port: actual,
    origin: `${tls ? 'https' : 'http'}://${shown}:${actual}`,
    hits,
    closed: () => closedOnce,
    sni,
  };
}

/** A server that must never be reached. */
const trap = (t: TestContext, options?: { host?: string; port?: number }) =>
  serve(t, (_req, res) => res.end('secret'), options);

const base = { allowPrivate: false, maxBytes: 1024 * 1024, timeoutMs: 5000 } satisfies FetchUrlOptions;
const open = { ...base, allowPrivate: true } satisfies FetchUrlOptions;

const PNG_BYTES = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

// --- success ------------------------------------------------------------------------------------

test('fetches the body, Content-Type and final URL from a loopback server when private URLs are allowed', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.setHeader('content-type', 'image/png');
    res.end(PNG_BYTES);
  });
  const got = await fetchUrl(`${server.origin}/cat.png?size=2`, open);
  assert.deepEqual(got.data, PNG_BYTES);
  assert.equal(got.contentType, 'image/png');
  assert.equal(got.finalUrl, `${server.origin}/cat.png?size=2`);
  assert.deepEqual(server.hits, [`127.0.0.1:${server.port}/cat.png?size=2`]);
});

test('with private URLs allowed, localhost is resolved and fetched', async (t) => {
  const server = await serve(t, (_req, res) => res.end('ok'));
  const dns = fakeDns({ localhost: ['127.0.0.1'] });
  const got = await fetchUrl(`http://localhost:${server.port}/a.png`, { ...open, lookup: dns.lookup });
  assert.equal(got.data.toString(), 'ok');
  assert.deepEqual(dns.calls, ['localhost']);
});

// --- URL validation -----------------------------------------------------------------------------

for (const url of [
  'file:///etc/passwd',
  'ftp://127.0.0.1/image.png',
  'data:image/png;base64,iVBORw0KGgo=',
  'javascript:alert(1)',
  'gopher://127.0.0.1:6379/_FLUSHALL',
  'dict://127.0.0.1:11211/stat',
  'ws://127.0.0.1/socket',
  'blob:http://127.0.0.1/0b8e2d6c',
]) {
  const scheme = url.slice(0, url.indexOf(':'));
  test(`refuses the ${scheme}: scheme with url_invalid before resolving anything`, async () => {
    const dns = fakeDns({});
    const err = await rejectsWith(fetchUrl(url, { ...open, lookup: dns.lookup }), 'url_invalid');
    assert.equal(err.status, 400);
    assert.match(err.message, new RegExp(`the ${scheme}: scheme is not supported; use http or https`));
    assert.deepEqual(dns.calls, []);
  });
}

test('refuses credentials in the URL with url_invalid, and does not echo the password', async (t) => {
  const target = await trap(t);
  for (const url of [
    `http://user:hunter2@127.0.0.1:${target.port}/a.png`,
    `http://user@127.0.0.1:${target.port}/a.png`,
    `https://:hunter2@127.0.0.1:${target.port}/a.png`,
  ]) {
    const err = await rejectsWith(fetchUrl(url, open), 'url_invalid');
    assert.match(err.message, /credentials in the URL/);
    assert.doesNotMatch(err.message, /hunter2/);
  }
  assert.deepEqual(target.hits, []);
});

test('refuses strings that are not absolute URLs with url_invalid', async () => {
  for (const url of ['', 'not a url', '/images/cat.png', 'http://', 'http://[fe80::1%25eth0]/']) {
    await rejectsWith(fetchUrl(url, open), 'url_invalid');
  }
});

test('BAD CALL - maxBytes, timeoutMs, maxRedirects and allowPrivate are validated', async () => {
  const bad: [string, Partial<FetchUrlOptions>][] = [
    ['maxBytes', { maxBytes: 0 }],
    ['maxBytes', { maxBytes: 1.5 }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['timeoutMs', { timeoutMs: Number.NaN }],
    ['timeoutMs', { timeoutMs: 2 ** 31 }],
    ['maxRedirects', { maxRedirects: -1 }],
    ['allowPrivate', { allowPrivate: 'yes' as unknown as boolean }],
  ];
  for (const [param, options] of bad) {
    const err = await rejectsWith(fetchUrl('http://127.0.0.1/', { ...base, ...options }), 'invalid_argument');
    assert.equal(err.details.param, param);
  }
});

// --- forbidden targets --------------------------------------------------------------------------

// Literal spellings that land on this machine: WHATWG URL normalises them (see
// forbidden-address.test.ts for the parse), and none may reach the trap on 127.0.0.1.
for (const [form, address] of [
  ['127.0.0.1', '127.0.0.1'],
  ['2130706433', '127.0.0.1'],
  ['0x7f000001', '127.0.0.1'],
  ['0x7f.1', '127.0.0.1'],
  ['0177.0.0.1', '127.0.0.1'],
  ['127.1', '127.0.0.1'],
  ['127.0.0.1.', '127.0.0.1'],
  ['0.0.0.0', '0.0.0.0'],
  ['0', '0.0.0.0'],
  ['[::1]', '::1'],
  ['[::]', '::'],
  ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
  ['[::ffff:7f00:1]', '::ffff:7f00:1'],
] as const) {
  test(`refuses http://${form}:PORT/ as ${address} without connecting`, async (t) => {
    const target = await trap(t);
    const dns = fakeDns({});
    const err = await rejectsWith(
      fetchUrl(`http://${form}:${target.port}/secret`, { ...base, lookup: dns.lookup }),
      'url_forbidden',
    );
    assert.equal(err.status, 400);
    assert.equal(err.retryable, false);
    assert.equal(err.details.address, address);
    assert.ok(err.message.includes(`${address} is `), err.message);
    assert.match(err.message, /PIXELIFT_ALLOW_PRIVATE_URLS=true/);
    assert.deepEqual(dns.calls, [], 'a literal address is not resolved');
    assert.deepEqual(target.hits, []);
  });
}

for (const name of ['localhost', 'LOCALHOST', 'localhost.', 'images.localhost', 'metadata.google.internal']) {
  test(`refuses the host name ${name} by name, before resolving it`, async (t) => {
    const target = await trap(t);
    const dns = fakeDns({});
    const err = await rejectsWith(
      fetchUrl(`http://${name}:${target.port}/`, {
        ...base,
        allowPrivate: onlyPublic(target.port),
        lookup: dns.lookup,
      }),
      'url_forbidden',
    );
    assert.match(err.message, /host name/);
    assert.deepEqual(dns.calls, []);
    assert.deepEqual(target.hits, []);
  });
}

test('refuses a host name that resolves to a loopback address, naming the host but not what it resolves to', async (t) => {
  const target = await trap(t);
  const dns = fakeDns({ 'evil.example.test': ['127.0.0.1'] });
  const err = await rejectsWith(
    fetchUrl(`http://evil.example.test:${target.port}/cat.png`, { ...base, lookup: dns.lookup }),
    'url_forbidden',
  );
  assert.equal(err.details.address, 'evil.example.test');
  assert.match(err.message, /evil\.example\.test is a name that resolves to a private or local address/);
  assert.ok(
    !JSON.stringify(err.toJSON()).includes('127.0.0.1'),
    'neither message nor details disclose the address',
  );
  assert.deepEqual(dns.calls, ['evil.example.test']);
  assert.deepEqual(target.hits, []);
});

test('refuses a host name that resolves to an IPv4-mapped loopback address', async (t) => {
  const target = await trap(t);
  const dns = fakeDns({ 'mapped.example.test': ['::ffff:127.0.0.1'] });
  const err = await rejectsWith(
    fetchUrl(`http://mapped.example.test:${target.port}/`, { ...base, lookup: dns.lookup }),
    'url_forbidden',
  );
  assert.match(err.message, /mapped\.example\.test is a name that resolves to a private or local address/);
  assert.deepEqual(target.hits, []);
});

test('refuses a host name when any one of its addresses is forbidden, whichever comes first', async (t) => {
  const standIn = await trap(t);
  for (const answer of [
    ['127.0.0.1', '127.0.0.2'],
    ['127.0.0.2', '127.0.0.1'],
  ]) {
    const dns = fakeDns({ 'mixed.example.test': answer });
    const err = await rejectsWith(
      fetchUrl(`http://mixed.example.test:${standIn.port}/`, {
        ...base,
        allowPrivate: onlyPublic(standIn.port),
        lookup: dns.lookup,
      }),
      'url_forbidden',
    );
    assert.equal(err.details.host, 'mixed.example.test');
  }
  assert.deepEqual(standIn.hits, [], 'not even the admitted address is connected to');
});

test('a failed, empty or malformed resolution fails with url_fetch_failed naming the host', async () => {
  const dns = fakeDns({ 'empty.example.test': [], 'junk.example.test': ['not-an-ip'] });
  const options = { ...open, lookup: dns.lookup };
  const missing = await rejectsWith(fetchUrl('http://nowhere.example.test/', options), 'url_fetch_failed');
  assert.match(missing.message, /cannot resolve nowhere\.example\.test \(ENOTFOUND\)/);
  assert.equal(missing.status, 502);
  assert.equal(missing.retryable, true);
  const empty = await rejectsWith(fetchUrl('http://empty.example.test/', options), 'url_fetch_failed');
  assert.match(empty.message, /resolves to no address/);
  const junk = await rejectsWith(fetchUrl('http://junk.example.test/', options), 'url_fetch_failed');
  assert.match(junk.message, /not an IP address/);
});

// --- pinning ------------------------------------------------------------------------------------

test('DNS rebinding cannot redirect the connection: the host is resolved once and the socket pinned to that answer', async (t) => {
  const server = await serve(t, (_req, res) => res.end('the checked server'));
  // Same port on 127.0.0.2: where a second resolution would send the connection.
  const rebound = await trap(t, { host: '127.0.0.2', port: server.port });
  const dns = fakeDns({ 'rebind.example.test': (call) => (call === 1 ? ['127.0.0.1'] : ['127.0.0.2']) });
  const got = await fetchUrl(`http://rebind.example.test:${server.port}/cat.png`, {
    ...base,
    allowPrivate: onlyPublic(server.port),
    lookup: dns.lookup,
  });
  assert.equal(got.data.toString(), 'the checked server');
  assert.deepEqual(dns.calls, ['rebind.example.test'], 'resolved exactly once');
  assert.deepEqual(rebound.hits, []);
  assert.deepEqual(
    server.hits,
    [`rebind.example.test:${server.port}/cat.png`],
    'Host still names the URL host',
  );
});

test('https connects to the pinned address, sends the host name as SNI and refuses a certificate it cannot verify', async (t) => {
  const server = await serve(t, (_req, res) => res.end('unreachable'), { tls: true });
  const dns = fakeDns({ 'images.example.test': ['127.0.0.1'] });
  const err = await rejectsWith(
    fetchUrl(`https://images.example.test:${server.port}/cat.png`, {
      ...base,
      allowPrivate: onlyPublic(server.port),
      lookup: dns.lookup,
    }),
    'url_fetch_failed',
  );
  assert.match(err.message, /self[- ]signed certificate/);
  assert.deepEqual(server.sni, ['images.example.test'], 'the handshake reached the pinned server with SNI');
  assert.deepEqual(server.hits, [], 'no request was sent over the unverified connection');
});

// --- redirects ----------------------------------------------------------------------------------

test('follows relative Locations and reports the final URL', async (t) => {
  const server = await serve(t, (req, res) => {
    if (req.url === '/start/here') res.writeHead(302, { location: 'next?x=1' }).end();
    else if (req.url === '/start/next?x=1') res.writeHead(301, { location: '/img/cat.png' }).end();
    else res.end('cat');
  });
  const got = await fetchUrl(`${server.origin}/start/here`, open);
  assert.equal(got.data.toString(), 'cat');
  assert.equal(got.finalUrl, `${server.origin}/img/cat.png`);
  assert.deepEqual(
    server.hits.map((h) => h.slice(h.indexOf('/'))),
    ['/start/here', '/start/next?x=1', '/img/cat.png'],
  );
});

test('follows 5 redirects of every kind by default and fails with url_fetch_failed on the 6th', async (t) => {
  const statuses = [301, 302, 303, 307, 308, 302];
  // /r/N redirects to /r/N-1 with statuses[N-1]; /r/0 is the image.
  const server = await serve(t, (req, res) => {
    const n = Number(req.url?.split('/')[2]);
    if (n === 0) res.end('end');
    else res.writeHead(statuses[n - 1] ?? 302, { location: `/r/${n - 1}` }).end();
  });
  assert.equal((await fetchUrl(`${server.origin}/r/5`, open)).data.toString(), 'end');
  const err = await rejectsWith(fetchUrl(`${server.origin}/r/6`, open), 'url_fetch_failed');
  assert.match(err.message, /more than 5 redirects/);
  await rejectsWith(fetchUrl(`${server.origin}/r/1`, { ...open, maxRedirects: 0 }), 'url_fetch_failed');
  assert.equal((await fetchUrl(`${server.origin}/r/1`, { ...open, maxRedirects: 1 })).data.toString(), 'end');
});

test('a public URL that redirects to 127.0.0.1 is refused (redirect targets are re-checked)', async (t) => {
  const internal = await trap(t);
  const publicServer = await serve(t, (_req, res) =>
    res.writeHead(302, { location: `http://127.0.0.1:${internal.port}/admin` }).end(),
  );
  const dns = fakeDns({ 'public.example.test': ['127.0.0.1'] });
  const err = await rejectsWith(
    fetchUrl(`http://public.example.test:${publicServer.port}/cat.png`, {
      ...base,
      allowPrivate: onlyPublic(publicServer.port),
      lookup: dns.lookup,
    }),
    'url_forbidden',
  );
  assert.equal(err.details.url, `http://127.0.0.1:${internal.port}/admin`);
  assert.equal(err.details.address, '127.0.0.1');
  assert.match(err.message, /loopback/);
  assert.equal(publicServer.hits.length, 1, 'the first hop was fetched');
  assert.deepEqual(internal.hits, [], 'the redirect target was not');
});

test('a redirect to a host name is resolved and checked again, and refused when it is private', async (t) => {
  const internal = await trap(t);
  const publicServer = await serve(t, (req, res) => {
    const location =
      req.url === '/by-name'
        ? `http://localhost:${internal.port}/`
        : `http://internal.example.test:${internal.port}/`;
    res.writeHead(307, { location }).end();
  });
  const dns = fakeDns({ 'public.example.test': ['127.0.0.1'], 'internal.example.test': ['127.0.0.1'] });
  const options = { ...base, allowPrivate: onlyPublic(publicServer.port), lookup: dns.lookup };
  const resolved = await rejectsWith(
    fetchUrl(`http://public.example.test:${publicServer.port}/by-dns`, options),
    'url_forbidden',
  );
  assert.match(
    resolved.message,
    /internal\.example\.test is a name that resolves to a private or local address/,
  );
  assert.doesNotMatch(resolved.message, /\d+\.\d+\.\d+\.\d+/, 'the resolved address is not disclosed');
  assert.deepEqual(dns.calls, ['public.example.test', 'internal.example.test']);
  const named = await rejectsWith(
    fetchUrl(`http://public.example.test:${publicServer.port}/by-name`, options),
    'url_forbidden',
  );
  assert.match(named.message, /localhost is a loopback host name/);
  assert.deepEqual(internal.hits, []);
});

test('a redirect to another scheme or to a URL with credentials fails with url_invalid', async (t) => {
  const server = await serve(t, (req, res) => {
    const location = req.url === '/file' ? 'file:///etc/passwd' : `http://admin:hunter2@127.0.0.1:1/`;
    res.writeHead(302, { location }).end();
  });
  const file = await rejectsWith(fetchUrl(`${server.origin}/file`, open), 'url_invalid');
  assert.match(file.message, /file:\/\/\/etc\/passwd \(redirected from http:\/\/127\.0\.0\.1:\d+\/file\)/);
  const creds = await rejectsWith(fetchUrl(`${server.origin}/creds`, open), 'url_invalid');
  assert.doesNotMatch(creds.message, /hunter2/);
});

test('a redirect without a Location fails with url_fetch_failed carrying the status', async (t) => {
  const server = await serve(t, (_req, res) => res.writeHead(302).end());
  const err = await rejectsWith(fetchUrl(`${server.origin}/`, open), 'url_fetch_failed');
  assert.equal(err.details.status, 302);
});

// --- status and network errors ------------------------------------------------------------------

test('a non-2xx answer fails with url_fetch_failed carrying the status', async (t) => {
  const server = await serve(t, (req, res) => {
    res.statusCode = Number(req.url?.slice(1));
    res.end('nope');
  });
  for (const status of [404, 403, 500, 304]) {
    const err = await rejectsWith(fetchUrl(`${server.origin}/${status}`, open), 'url_fetch_failed');
    assert.equal(err.details.status, status);
    assert.match(err.message, new RegExp(`HTTP ${status}`));
    assert.equal(err.status, 502);
  }
});

test('a refused connection fails with url_fetch_failed', async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const err = await rejectsWith(fetchUrl(`http://127.0.0.1:${port}/`, open), 'url_fetch_failed');
  assert.match(err.message, /ECONNREFUSED/);
});

// --- size ---------------------------------------------------------------------------------------

test('a body of exactly maxBytes is accepted, with or without Content-Length', async (t) => {
  const body = Buffer.alloc(1000, 7);
  const server = await serve(t, (req, res) => {
    if (req.url === '/chunked') res.write(body.subarray(0, 400));
    res.end(req.url === '/chunked' ? body.subarray(400) : body);
  });
  assert.equal((await fetchUrl(`${server.origin}/sized`, { ...open, maxBytes: 1000 })).data.length, 1000);
  assert.equal((await fetchUrl(`${server.origin}/chunked`, { ...open, maxBytes: 1000 })).data.length, 1000);
});

test('refuses a response whose Content-Length exceeds maxBytes before reading its body', async (t) => {
  // Declares 10 MB, sends one byte, then stalls: only the header can have triggered the refusal.
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(10_000_000) });
    res.write('x');
  });
  const err = await rejectsWith(
    fetchUrl(`${server.origin}/big.png`, { ...open, maxBytes: 1000, timeoutMs: 20_000 }),
    'image_too_large',
  );
  assert.equal(err.status, 413);
  assert.match(err.message, /declares 10000000 bytes \(limit 1000 bytes\)/);
  await server.closed();
});

test('stops a chunked download as soon as it passes maxBytes, closing the socket', async (t) => {
  let written = 0;
  // Streams without end and without Content-Length: only an early abort ends this download.
  const server = await serve(t, (_req, res) => {
    const chunk = Buffer.alloc(16 * 1024);
    const pump = () => {
      while (!res.destroyed) {
        written += chunk.length;
        if (!res.write(chunk)) break;
      }
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  const err = await rejectsWith(
    fetchUrl(`${server.origin}/endless.png`, { ...open, maxBytes: 100_000, timeoutMs: 20_000 }),
    'image_too_large',
  );
  assert.match(err.message, /sent more than 100000 bytes/);
  await server.closed();
  assert.ok(written > 100_000, `the server had sent ${written} bytes`);
});

// --- time ---------------------------------------------------------------------------------------

test('a slow-drip server fails with url_timeout once the total time is spent', async (t) => {
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' });
    const drip = setInterval(() => res.write('.'), 20);
    res.on('close', () => clearInterval(drip));
  });
  const started = Date.now();
  const err = await rejectsWith(
    fetchUrl(`${server.origin}/drip.png`, { ...open, timeoutMs: 300 }),
    'url_timeout',
  );
  const elapsed = Date.now() - started;
  assert.equal(err.status, 504);
  assert.equal(err.retryable, true);
  assert.match(err.message, /took longer than 300 ms/);
  assert.ok(elapsed >= 290 && elapsed < 3000, `gave up after ${elapsed} ms`);
  await server.closed();
});

test('a server that accepts the connection but never answers fails with url_timeout', async (t) => {
  const server = await serve(t, () => {});
  await rejectsWith(fetchUrl(`${server.origin}/`, { ...open, timeoutMs: 200 }), 'url_timeout');
});

test('the timeout covers the whole redirect chain, not each hop', async (t) => {
  // Four hops of 150 ms: each is well inside 400 ms, the chain is not.
  const server = await serve(t, (req, res) => {
    const n = Number(req.url?.slice(1));
    setTimeout(() => (n === 0 ? res.end('done') : res.writeHead(302, { location: `/${n - 1}` }).end()), 150);
  });
  await rejectsWith(fetchUrl(`${server.origin}/3`, { ...open, timeoutMs: 400 }), 'url_timeout');
  assert.equal((await fetchUrl(`${server.origin}/3`, { ...open, timeoutMs: 3000 })).data.toString(), 'done');
});

test('a lookup that never answers is bounded by the timeout', async () => {
  const lookup = () => new Promise<ResolvedAddress[]>(() => {});
  await rejectsWith(
    fetchUrl('http://slow-dns.example.test/', { ...open, timeoutMs: 100, lookup }),
    'url_timeout',
  );
});

// --- cancellation -------------------------------------------------------------------------------

test('aborting the signal stops the download with canceled and closes the socket', async (t) => {
  const server = await serve(t, () => {});
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  await rejectsWith(fetchUrl(`${server.origin}/`, { ...open, signal: controller.signal }), 'canceled');
  await server.closed();
});

test('an already aborted signal fails with canceled before connecting', async (t) => {
  const target = await trap(t);
  await rejectsWith(fetchUrl(`${target.origin}/`, { ...open, signal: AbortSignal.abort() }), 'canceled');
  assert.deepEqual(target.hits, []);
});

// --- registry -----------------------------------------------------------------------------------

test('the URL error codes carry their statuses and retryability', () => {
  assert.deepEqual(
    Object.fromEntries(
      (['url_invalid', 'url_forbidden', 'url_fetch_failed', 'url_timeout', 'image_too_large'] as const).map(
        (c) => [c, [ERRORS[c].status, ERRORS[c].retryable]],
      ),
    ),
    {
      url_invalid: [400, false],
      url_forbidden: [400, false],
      url_fetch_failed: [502, true],
      url_timeout: [504, true],
      image_too_large: [413, false],
    },
  );
});
