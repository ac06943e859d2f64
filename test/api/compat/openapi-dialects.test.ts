/**
 * Each compatibility dialect publishes its own OpenAPI document at /compat/<dialect>/openapi.json
 * (public, like /openapi.json): a valid OpenAPI 3.0 document (Redocly's structural rules), whose
 * server is the dialect's prefix, so the provider's paths read as in the provider's docs. Every
 * operation it lists is a route of the real server: called with the key, it answers something
 * other than "no such route". The native document passes the same structural check.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { DIALECTS } from '../../../src/api/compat/index.js';
import { fillPath, type OpenApiDocument, operationsOf } from '../../helpers/openapi.js';
import { startTestService, type TestService } from '../../helpers/service.js';

const KEY = 'pk_openapi_dialects';
let svc: TestService;

before(async () => {
  svc = await startTestService({ PIXELIFT_API_KEYS: KEY });
});
after(() => svc.close(1000));

async function structuralErrors(text: string): Promise<string[]> {
  const config = await createConfig({ extends: ['minimal'] });
  const problems = await lintFromString({ source: text, absoluteRef: '/openapi.json', config });
  return problems
    .filter((p) => p.severity === 'error')
    .map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`);
}

test('the native document is structurally valid OpenAPI 3.0', async () => {
  const text = await (await svc.call('/openapi.json')).text();
  assert.deepEqual(await structuralErrors(text), []);
});

test('the dialects are the seven providers, each with a document', () => {
  assert.deepEqual(DIALECTS.map((d) => d.name).sort(), [
    'apiframe',
    'fal',
    'oxen',
    'replicate',
    'runflow',
    'runware',
    'scenario',
  ]);
});

for (const dialect of DIALECTS) {
  test(`/compat/${dialect.name}/openapi.json is valid OpenAPI 3.0 and every operation it lists is routed`, async () => {
    const prefix = `/compat/${dialect.name}`;
    const res = await svc.call(`${prefix}/openapi.json`); // no key: public
    assert.equal(res.status, 200);
    const text = await res.text();
    const doc = JSON.parse(text) as OpenApiDocument;
    assert.equal(doc.openapi, '3.0.3');
    assert.deepEqual(
      doc.servers.map((s: { url: string }) => s.url),
      [prefix],
    );
    assert.deepEqual(await structuralErrors(text), []);

    // What "no such route" looks like in this dialect, so that the calls below can tell it apart.
    const unrouted = await svc.call(`${prefix}/no-such-route-${randomUUID()}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(unrouted.status, 404);
    assert.match(await unrouted.text(), /No route /);

    const ops = operationsOf(doc);
    assert.ok(ops.length > 0, 'no operations');
    const ids = new Set<string>();
    for (const op of ops) {
      const [method, path] = op.split(' ') as [string, string];
      const o = doc.paths[path][method.toLowerCase()];
      assert.ok(o.operationId && !ids.has(o.operationId), `${op}: missing or repeated operationId`);
      ids.add(o.operationId);
      assert.ok(o.summary, `${op} has no summary`);

      // Any value fits a path parameter here: the route must exist, whatever the resource.
      const params = Object.fromEntries(
        [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => [name!, randomUUID()]),
      );
      const url = `${prefix}${fillPath(path, params)}`;
      const abort = new AbortController();
      const answer = await svc.call(url, {
        method,
        headers: { authorization: `Bearer ${KEY}` },
        signal: abort.signal,
        ...(o.requestBody?.content?.['application/json'] ? { json: {} } : {}),
      });
      // An event stream never ends: its headers are the answer.
      const body = answer.headers.get('content-type')?.startsWith('text/event-stream')
        ? ''
        : await answer.text();
      abort.abort();
      assert.ok(
        !/No route /.test(body) && answer.status !== 405,
        `${method} ${url} is not routed: ${answer.status} ${body.slice(0, 200)}`,
      );
      if (answer.status === 404) {
        // Only a missing resource may be 404 (the random id), never the route.
        assert.ok(Object.keys(params).length > 0, `${method} ${url}: 404 ${body.slice(0, 200)}`);
      }
    }
  });
}
