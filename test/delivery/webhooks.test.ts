/**
 * The dispatcher end to end: a real loopback receiver, the in-memory outbox, small delays and a
 * fixed jitter draw so that retries take a few hundred ms. The receiver is admitted with the
 * predicate form of allowPrivate, exactly as in safe-request.test.ts; nothing leaves loopback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret } from '../../src/delivery/webhook-signing.js';
import {
  MAX_RETRY_AFTER_MS,
  type WebhookAttemptEvent,
  WebhookDispatcher,
  type WebhookDispatcherOptions,
  webhookEnvelope,
} from '../../src/delivery/webhooks.js';
import { isPixeliftError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { silentLogger } from '../../src/log.js';
import { type LoopbackServer, onlyPublic, serveLoopback } from '../helpers/loopback.js';
import { MemoryOutbox } from '../helpers/memory-outbox.js';

const secret = generateWebhookSecret();
const payload = webhookEnvelope('completed', { id: 'job_1', status: 'succeeded' }, new Date());

function setup(
  t: TestContext,
  server: LoopbackServer | undefined,
  options: Partial<WebhookDispatcherOptions> = {},
) {
  const outbox = new MemoryOutbox();
  const dispatcher = new WebhookDispatcher({
    outbox,
    secret,
    allowPrivate: server === undefined ? false : onlyPublic(server.port),
    log: silentLogger,
    schedule: [100, 200, 400, 800, 1600, 3200, 6400],
    pollMs: 10,
    random: () => 0.5, // no jitter: the waits are the schedule's
    ...options,
  });
  const attempts: WebhookAttemptEvent[] = [];
  dispatcher.on('attempt', (e) => attempts.push(e));
  t.after(() => dispatcher.stop());
  const enqueue = (url: string, scheme = 'standard') =>
    outbox.enqueue({
      jobId: 'job_1',
      eventType: 'completed',
      url,
      messageId: 'msg_1',
      payload,
      scheme,
      now: new Date(),
    });
  return { outbox, dispatcher, attempts, enqueue };
}

/** A receiver that answers with the statuses given, in turn (the last one from then on), and timestamps each request. */
async function receiver(t: TestContext, statuses: number[]) {
  const arrivals: number[] = [];
  const server = await serveLoopback(t, (_req, res) => {
    arrivals.push(performance.now());
    const status = statuses[Math.min(arrivals.length, statuses.length) - 1] ?? 200;
    res.writeHead(status).end(status === 200 ? 'ok' : 'not now');
  });
  return { server, arrivals };
}

test('a 2xx delivers once, signed so that the standardwebhooks library verifies it', async (t) => {
  const { server } = await receiver(t, [200]);
  // A long poll interval: only kick() can make this delivery go out in time.
  const { outbox, dispatcher, attempts, enqueue } = setup(t, server, { pollMs: 60_000 });
  dispatcher.start();
  await new Promise((resolve) => setTimeout(resolve, 20)); // the first poll found nothing
  const delivery = await enqueue(`${server.origin}/hooks`);
  const delivered = once(dispatcher, 'delivered');
  dispatcher.kick();
  const [event] = (await delivered) as [WebhookAttemptEvent];

  assert.equal(server.received.length, 1);
  const req = server.received[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/hooks');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers['user-agent'], 'Pixelift-Webhooks/1');
  assert.equal(req.headers['webhook-id'], 'msg_1');
  assert.equal(req.body.toString(), payload);
  const verified = new Webhook(secret).verify(req.body.toString(), req.headers as Record<string, string>);
  assert.deepEqual(verified, JSON.parse(payload));

  const stored = await outbox.get(delivery.id);
  assert.equal(stored?.status, 'delivered');
  assert.equal(stored?.attempts.length, 1);
  assert.equal(stored?.attempts[0]?.statusCode, 200);
  assert.equal(stored?.attempts[0]?.error, null);
  assert.ok((stored?.attempts[0]?.durationMs ?? -1) >= 0);
  assert.equal(event.outcome, 'delivered');
  assert.equal(event.number, 1);
  assert.equal(event.delivery.status, 'delivered');
  assert.deepEqual(
    attempts.map((a) => a.outcome),
    ['delivered'],
  );
});

test('500 twice then 200: three attempts with growing delays, the same webhook-id, then delivered', async (t) => {
  const { server, arrivals } = await receiver(t, [500, 500, 200]);
  const { outbox, dispatcher, attempts, enqueue } = setup(t, server);
  const delivery = await enqueue(`${server.origin}/hooks`);
  const delivered = once(dispatcher, 'delivered');
  dispatcher.start();
  await delivered;

  assert.deepEqual(
    attempts.map((a) => [a.number, a.outcome, a.attempt.statusCode]),
    [
      [1, 'retrying', 500],
      [2, 'retrying', 500],
      [3, 'delivered', 200],
    ],
  );
  assert.equal(attempts[0]?.attempt.error, 'the receiver answered HTTP 500: not now');
  // The draw fixed mid-range, the waits are the schedule's: 100 ms, then 200 ms.
  const [first = 0, second = 0, third = 0] = arrivals;
  assert.ok(second - first >= 95, `first wait ${second - first} ms`);
  assert.ok(third - second >= 195, `second wait ${third - second} ms`);
  const scheduled = attempts
    .slice(0, 2)
    .map((a) => (a.nextAttemptAt?.getTime() ?? 0) - Date.parse(a.attempt.at));
  assert.ok(scheduled[1]! > scheduled[0]!, `scheduled waits ${scheduled}`);
  const verifier = new Webhook(secret);
  for (const req of server.received) {
    assert.equal(req.headers['webhook-id'], 'msg_1');
    verifier.verify(req.body.toString(), req.headers as Record<string, string>);
  }
  assert.equal((await outbox.get(delivery.id))?.status, 'delivered');
  assert.equal((await outbox.get(delivery.id))?.attempts.length, 3);
});

test('408 and 429 are retried like 5xx', async (t) => {
  const { server } = await receiver(t, [408, 429, 204]);
  const { dispatcher, attempts, enqueue } = setup(t, server, { schedule: [1, 1] });
  await enqueue(`${server.origin}/`);
  const delivered = once(dispatcher, 'delivered');
  dispatcher.start();
  await delivered;
  assert.deepEqual(
    attempts.map((a) => a.attempt.statusCode),
    [408, 429, 204],
  );
});

test('a 400 fails after one attempt, without retry', async (t) => {
  const { server } = await receiver(t, [400]);
  const { outbox, dispatcher, attempts, enqueue } = setup(t, server);
  const delivery = await enqueue(`${server.origin}/hooks`);
  const failed = once(dispatcher, 'failed');
  dispatcher.start();
  const [event] = (await failed) as [WebhookAttemptEvent];
  assert.equal(event.outcome, 'failed');
  assert.equal(event.nextAttemptAt, null);
  assert.equal(server.received.length, 1);
  assert.equal(attempts.length, 1);
  const stored = await outbox.get(delivery.id);
  assert.equal(stored?.status, 'failed');
  assert.equal(stored?.attempts[0]?.statusCode, 400);
  assert.match(stored?.attempts[0]?.error ?? '', /HTTP 400/);
  assert.deepEqual(
    outbox.recorded.map((r) => [r.ok, r.next]),
    [[false, null]],
  );
});

test('a receiver that never answers times out and is retried, then given up at maxAttempts', async (t) => {
  const server = await serveLoopback(t, () => {});
  const { outbox, dispatcher, attempts, enqueue } = setup(t, server, { timeoutMs: 150, maxAttempts: 2 });
  const delivery = await enqueue(`${server.origin}/slow`);
  const failed = once(dispatcher, 'failed');
  dispatcher.start();
  await failed;
  assert.equal(server.received.length, 2);
  assert.deepEqual(
    attempts.map((a) => [a.outcome, a.attempt.statusCode]),
    [
      ['retrying', null],
      ['failed', null],
    ],
  );
  assert.match(attempts[0]?.attempt.error ?? '', /took longer than 150 ms/);
  assert.ok((attempts[0]?.attempt.durationMs ?? 0) >= 140);
  assert.equal((await outbox.get(delivery.id))?.status, 'failed');
});

test('a 5xx on every attempt is given up after maxAttempts', async (t) => {
  const { server } = await receiver(t, [503]);
  const { dispatcher, attempts, enqueue } = setup(t, server, { maxAttempts: 3, schedule: [1] });
  await enqueue(`${server.origin}/`);
  const failed = once(dispatcher, 'failed');
  dispatcher.start();
  await failed;
  assert.deepEqual(
    attempts.map((a) => a.outcome),
    ['retrying', 'retrying', 'failed'],
  );
  assert.equal(server.received.length, 3);
});

test('a loopback webhook URL is refused when private addresses are not allowed: failed, no retry, no request', async (t) => {
  const { server } = await receiver(t, [200]);
  const { outbox, dispatcher, attempts, enqueue } = setup(t, undefined);
  const delivery = await enqueue(`${server.origin}/hooks`);
  const failed = once(dispatcher, 'failed');
  dispatcher.start();
  await failed;
  assert.deepEqual(server.received, []);
  assert.equal(attempts.length, 1);
  assert.equal(attempts[0]?.attempt.statusCode, null);
  assert.match(attempts[0]?.attempt.error ?? '', /loopback/);
  assert.equal((await outbox.get(delivery.id))?.status, 'failed');
});

test('a delivery whose scheme has no signer fails without a request; a registered signer’s headers are sent', async (t) => {
  const { server } = await receiver(t, [200]);
  const { dispatcher, attempts, enqueue } = setup(t, server, {
    signers: { runflow: (d) => ({ 'x-runflow-signature': `sig-${d.messageId}` }) },
  });
  await enqueue(`${server.origin}/unknown`, 'nobody');
  await enqueue(`${server.origin}/runflow`, 'runflow');
  const failed = once(dispatcher, 'failed');
  const delivered = once(dispatcher, 'delivered');
  dispatcher.start();
  await Promise.all([failed, delivered]);
  assert.deepEqual(
    server.received.map((r) => [r.url, r.headers['x-runflow-signature'], r.headers['webhook-signature']]),
    [['/runflow', 'sig-msg_1', undefined]],
  );
  const refused = attempts.find((a) => a.outcome === 'failed');
  assert.match(refused?.attempt.error ?? '', /no signer for the webhook scheme "nobody"/);
});

test('stop() resolves only once the sends in flight have finished and been recorded', async (t) => {
  const server = await serveLoopback(t, (_req, res) => setTimeout(() => res.end('late ok'), 200));
  const { outbox, dispatcher, enqueue } = setup(t, server);
  const delivery = await enqueue(`${server.origin}/`);
  dispatcher.start();
  while (server.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal((await outbox.get(delivery.id))?.status, 'pending');
  await dispatcher.stop();
  assert.equal((await outbox.get(delivery.id))?.status, 'delivered');
  const claims = outbox.claims;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(outbox.claims, claims, 'no polling after stop');
});

test('a failing claim is logged and the next poll carries on', async (t) => {
  const { server } = await receiver(t, [200]);
  const errors: string[] = [];
  const log = { ...silentLogger, error: (_o: unknown, msg: string) => errors.push(msg) } as unknown as Logger;
  const { outbox, dispatcher, enqueue } = setup(t, server, { log });
  outbox.failClaims = 2;
  await enqueue(`${server.origin}/`);
  const delivered = once(dispatcher, 'delivered');
  dispatcher.start();
  await delivered;
  assert.deepEqual(errors, [
    'webhooks: claiming due deliveries failed',
    'webhooks: claiming due deliveries failed',
  ]);
});

test('claims are leased for the attempt’s timeout plus a margin, and never exceed the concurrency', async (t) => {
  const server = await serveLoopback(t, (_req, res) => setTimeout(() => res.end(), 100));
  const { outbox, dispatcher, enqueue } = setup(t, server, { timeoutMs: 3000, concurrency: 2 });
  const seen: { limit: number; leaseMs: number }[] = [];
  const claimDue = outbox.claimDue.bind(outbox);
  outbox.claimDue = (o) => {
    seen.push({ limit: o.limit, leaseMs: o.leaseMs });
    return claimDue(o);
  };
  for (let i = 0; i < 3; i++) await enqueue(`${server.origin}/${i}`);
  let delivered = 0;
  const all = new Promise<void>((resolve) =>
    dispatcher.on('delivered', () => {
      if (++delivered === 3) resolve();
    }),
  );
  dispatcher.start();
  await all;
  assert.ok(seen.every((s) => s.leaseMs === 8000));
  assert.ok(seen.every((s) => s.limit >= 1 && s.limit <= 2));
  assert.equal(seen[0]?.limit, 2);
});

test('webhookEnvelope is the Standard Webhooks payload: job.<type>, an ISO timestamp and the data', () => {
  const at = new Date('2030-05-06T07:08:09.010Z');
  assert.equal(
    webhookEnvelope('completed', { id: 'job_9', status: 'succeeded' }, at),
    '{"type":"job.completed","timestamp":"2030-05-06T07:08:09.010Z","data":{"id":"job_9","status":"succeeded"}}',
  );
});

test('BAD CALL - a malformed secret and out-of-range numbers are refused at construction', () => {
  const base = { outbox: new MemoryOutbox(), secret, allowPrivate: false, log: silentLogger };
  const bad: [string, Partial<WebhookDispatcherOptions>][] = [
    ['secret', { secret: 'whsec_***' }],
    ['maxAttempts', { maxAttempts: 0 }],
    ['schedule', { schedule: [] }],
    ['schedule', { schedule: [-1] }],
    ['pollMs', { pollMs: 0.5 }],
    ['concurrency', { concurrency: 0 }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['allowPrivate', { allowPrivate: 'no' as unknown as boolean }],
  ];
  for (const [param, options] of bad) {
    assert.throws(
      () => new WebhookDispatcher({ ...base, ...options }),
      (err: unknown) => isPixeliftError(err, 'invalid_argument') && err.details.param === param,
      param,
    );
  }
});

test('a 429 or 503 with Retry-After waits what the receiver asks (beyond the schedule), capped at 10 h', async (t) => {
  const server = await serveLoopback(t, (_req, res) => {
    res.writeHead(server.received.length === 1 ? 503 : 429, {
      'retry-after': server.received.length === 1 ? '3600' : String(48 * 3600),
    });
    res.end();
  });
  const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
  const { dispatcher, attempts, enqueue } = setup(t, server, { now: () => new Date(clock.now) });
  await enqueue(`${server.origin}/`);
  dispatcher.start();
  while (attempts.length < 1) await new Promise((r) => setTimeout(r, 5));
  const first = attempts[0]!;
  assert.equal(first.outcome, 'retrying');
  assert.equal(first.nextAttemptAt!.getTime() - clock.now, 3_600_000, 'an hour, not the schedule’s 100 ms');
  clock.now = first.nextAttemptAt!.getTime();
  dispatcher.kick();
  while (attempts.length < 2) await new Promise((r) => setTimeout(r, 5));
  assert.equal(
    attempts[1]!.nextAttemptAt!.getTime() - clock.now,
    MAX_RETRY_AFTER_MS,
    '48 h asked, 10 h granted',
  );
});
