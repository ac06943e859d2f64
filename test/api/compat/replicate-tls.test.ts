/**
 * Replicate's client behind TLS, as Pixelift is deployed behind a TLS proxy
 * (`PIXELIFT_PUBLIC_URL=https://…`): replicate 1.4 wraps only `https:` and `data:` output URLs in
 * its `FileOutput`, so this is where `run` hands one back. The client is unchanged; it gets a
 * `fetch` (its documented option) that trusts the test's self-signed certificate and resolves the
 * certificate's name to 127.0.0.1. Node 20 does not export undici's Agent (the global fetch
 * cannot be given a CA), so that fetch is a small one over node:https.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import Replicate from 'replicate';
import { sizeOf } from '../../helpers/compat.js';
import { dataUri, startTestService, type TestService, testPng } from '../../helpers/service.js';
import { SELF_SIGNED_CERT, SELF_SIGNED_KEY } from '../../helpers/tls-self-signed.js';

const KEY = 'r8_pixelift_tls_key';
/** The name on the self-signed certificate; resolved to loopback by `tlsFetch` only. */
const HOST = 'images.example.test';

/** fetch over node:https that trusts only the self-signed certificate and dials 127.0.0.1 for HOST. */
const tlsFetch: typeof fetch = (input, init = {}) =>
  new Promise((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    assert.equal(url.hostname, HOST, 'only the TLS proxy is reached');
    const req = https.request(
      url,
      {
        method: init.method ?? 'GET',
        headers: Object.fromEntries(new Headers(init.headers).entries()),
        ca: SELF_SIGNED_CERT,
        // Node asks for every address (`all`) when it may race IPv4 and IPv6.
        lookup: ((_host: string, opts: { all?: boolean }, done: (...a: unknown[]) => void) =>
          opts.all ? done(null, [{ address: '127.0.0.1', family: 4 }]) : done(null, '127.0.0.1', 4)) as never,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, one);
        }
        const status = res.statusCode ?? 500;
        const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as ReadableStream);
        resolve(new Response(body, { status, headers }));
      },
    );
    req.on('error', reject);
    if (typeof init.body === 'string') req.end(init.body);
    else if (init.body === undefined || init.body === null) req.end();
    else reject(new Error('tlsFetch sends string bodies only'));
  });

let proxy: https.Server;
let svc: TestService;
let client: Replicate;

before(async () => {
  // The TLS proxy first: its port is the public URL's.
  let upstream = '';
  proxy = https.createServer({ key: SELF_SIGNED_KEY, cert: SELF_SIGNED_CERT }, (req, res) => {
    const up = http.request(
      `${upstream}${req.url}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const publicUrl = `https://${HOST}:${(proxy.address() as AddressInfo).port}`;
  svc = await startTestService({ PIXELIFT_API_KEYS: KEY, PIXELIFT_PUBLIC_URL: publicUrl });
  upstream = svc.url;
  client = new Replicate({ auth: KEY, baseUrl: `${publicUrl}/compat/replicate/v1`, fetch: tlsFetch });
});
after(async () => {
  proxy?.closeAllConnections();
  proxy?.close();
  await svc?.close(1000);
});

test('replicate client over https: run gives a FileOutput whose blob() is the upscaled PNG', async () => {
  const png = await testPng(24, 16);
  const output = await client.run('pixelift/lanczos3', { input: { image: dataUri(png), scale: 2 } });
  assert.ok(output instanceof ReadableStream, `a FileOutput, not ${typeof output}`);
  const file = output as ReadableStream & { url(): URL; blob(): Promise<Blob> };
  const url = file.url();
  assert.equal(url.protocol, 'https:');
  assert.equal(url.hostname, HOST);
  assert.match(url.pathname, /^\/v1\/files\//);
  assert.equal(String(file), url.href);
  const blob = await file.blob();
  assert.equal(blob.type, 'image/png');
  assert.deepEqual(await sizeOf(Buffer.from(await blob.arrayBuffer())), {
    width: 48,
    height: 32,
    format: 'png',
  });
});
