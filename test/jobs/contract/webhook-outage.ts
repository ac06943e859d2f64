/**
 * Issue 16: webhooks that outlast an outage, against each real outbox (SQLite, PostgreSQL) with
 * the real dispatcher, a real loopback receiver and an injected clock that jumps from one due
 * attempt to the next, so two hours pass in a second.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { STANDARD_WEBHOOK_SCHEDULE_MS } from '../../../src/delivery/webhook-retry.js';
import { generateWebhookSecret } from '../../../src/delivery/webhook-signing.js';
import { WebhookDispatcher } from '../../../src/delivery/webhooks.js';
import type { WebhookOutbox } from '../../../src/jobs/store.js';
import { silentLogger } from '../../../src/log.js';
import { onlyPublic, serveLoopback } from '../../helpers/loopback.js';
import type { StoreBackend } from './backend.js';

const HOUR = 3_600_000;

/** Wait (real time) until `check` holds. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rig(t: TestContext, outbox: WebhookOutbox, start: number) {
  let down = true;
  const server = await serveLoopback(t, (_req, res) => {
    if (down) {
      res.socket?.destroy(); // as a receiver that is not there: no HTTP answer at all
      return;
    }
    res.writeHead(204).end();
  });
  const secret = generateWebhookSecret();
  let clock = start;
  const dispatcher = new WebhookDispatcher({
    outbox,
    secret,
    allowPrivate: onlyPublic(server.port),
    log: silentLogger,
    pollMs: 5,
    timeoutMs: 2000,
    now: () => new Date(clock),
    random: () => 0.5,
  });
  t.after(() => dispatcher.stop());
  return {
    server,
    secret,
    dispatcher,
    now: () => clock,
    set: (ms: number) => {
      clock = ms;
    },
    up: () => {
      down = false;
    },
  };
}

export function webhookOutageContract(backend: StoreBackend): void {
  test(`${backend.name}: a receiver down for 2 h gets every event afterwards, signed, in order per job`, async (t) => {
    const s = await backend.fresh();
    t.after(() => s.close());
    // Started so that the first attempt after the outage falls at about the real now: the
    // receiver then checks the signature's timestamp against its own clock as usual.
    const start = Date.now() - (5_000 + 5 * 60_000 + 30 * 60_000 + 2 * HOUR);
    const r = await rig(t, s.outbox, start);
    const url = `${r.server.origin}/hooks`;
    const jobs = ['job_outageA', 'job_outageB', 'job_outageC'];
    const types = ['queued', 'started', 'completed'] as const;
    for (const [k, type] of types.entries()) {
      for (const jobId of jobs) {
        await s.outbox.enqueue({
          jobId,
          eventType: type,
          url,
          messageId: `msg_${jobId}_${k}`,
          payload: JSON.stringify({ type: `job.${type}`, data: { id: jobId } }),
          scheme: 'standard',
          now: new Date(start + k * 1000),
        });
      }
    }
    r.dispatcher.start();
    // Each job's oldest pending message: the only one the outbox may hand out (order per job).
    const pending = async () =>
      (await Promise.all(jobs.map((j) => s.outbox.list(j))))
        .map((list) => list.find((d) => d.status === 'pending'))
        .filter((d) => d !== undefined);
    const settle = () =>
      until(
        async () =>
          r.dispatcher.busy === 0 &&
          (await pending()).every((d) => Date.parse(d.nextAttemptAt ?? '') > r.now()),
        'the dispatcher to settle',
      );
    // Jump from each due attempt to the next, bringing the receiver back at 2 h.
    for (let step = 0; step < 100; step++) {
      await settle();
      const left = await pending();
      if (left.length === 0) break;
      const next = Math.min(...left.map((d) => Date.parse(d.nextAttemptAt!)));
      if (next >= start + 2 * HOUR) r.up();
      r.set(Math.max(next, r.now()));
      r.dispatcher.kick();
    }
    const deliveries = (await Promise.all(jobs.map((j) => s.outbox.list(j)))).flat();
    assert.deepEqual(
      deliveries.map((d) => d.status),
      deliveries.map(() => 'delivered'),
      'every event delivered, none given up',
    );
    // While it was down only each job's oldest message was tried (the later ones waited their
    // turn), on the Standard Webhooks schedule: now, 5 s, 5 min, 30 min, then after 2 h 35 min.
    for (const jobId of jobs) {
      const [first, ...rest] = await s.outbox.list(jobId);
      const times = first!.attempts.map((a) => Date.parse(a.at) - Date.parse(first!.createdAt));
      // Cumulative: 0, 5 s, 5 min 5 s, 35 min 5 s, 2 h 35 min 5 s.
      const expected = [0, ...STANDARD_WEBHOOK_SCHEDULE_MS.slice(0, 4)].map((_, i, all) =>
        all.slice(0, i + 1).reduce((sum, d) => sum + d, 0),
      );
      assert.deepEqual(times, expected, `${jobId}: attempts at ${times}`);
      for (const later of rest)
        assert.equal(later.attempts.length, 1, 'a later event is sent once, afterwards');
    }
    const arrived = r.server.received.filter((q) => q.headers['webhook-id']);
    const got = arrived.slice(-9);
    assert.equal(
      new Set(got.map((q) => q.headers['webhook-id'])).size,
      9,
      'each message once after the outage',
    );
    const verifier = new Webhook(r.secret);
    for (const q of got) verifier.verify(q.body.toString(), q.headers as Record<string, string>);
    for (const jobId of jobs) {
      const order = got
        .map((q) => String(q.headers['webhook-id']))
        .filter((id) => id.startsWith(`msg_${jobId}_`));
      assert.deepEqual(
        order,
        [0, 1, 2].map((k) => `msg_${jobId}_${k}`),
        `${jobId} in order`,
      );
    }
  });

  test(`${backend.name}: an endpoint whose delivery failed is marked failing; its next failure is not retried; a success or a redelivery heals it`, async (t) => {
    const s = await backend.fresh();
    t.after(() => s.close());
    const start = Date.now();
    const r = await rig(t, s.outbox, start);
    const url = `${r.server.origin}/failing`;
    const enqueue = (jobId: string, messageId: string) =>
      s.outbox.enqueue({
        jobId,
        eventType: 'completed',
        url,
        messageId,
        payload: '{}',
        scheme: 'standard',
        now: new Date(r.now()),
      });
    assert.equal(await s.outbox.endpointFailingSince(url), null);
    const first = await enqueue('job_fail1', 'msg_f1');
    r.dispatcher.start();
    // The first delivery runs its whole schedule (8 attempts over ~28 h) and fails.
    for (let step = 0; step < 20; step++) {
      await until(async () => {
        const d = (await s.outbox.get(first.id))!;
        return r.dispatcher.busy === 0 && (d.status !== 'pending' || Date.parse(d.nextAttemptAt!) > r.now());
      }, 'the dispatcher to settle');
      const d = (await s.outbox.get(first.id))!;
      if (d.status !== 'pending') break;
      r.set(Date.parse(d.nextAttemptAt!));
      r.dispatcher.kick();
    }
    const failed = (await s.outbox.get(first.id))!;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts.length, STANDARD_WEBHOOK_SCHEDULE_MS.length + 1);
    assert.equal(await s.outbox.endpointFailingSince(url), failed.attempts.at(-1)!.at);

    // A new message to the failing endpoint: one attempt, then failed, saying why.
    const second = await enqueue('job_fail2', 'msg_f2');
    r.dispatcher.kick();
    await until(async () => (await s.outbox.get(second.id))!.status === 'failed', 'the second to fail');
    const once = (await s.outbox.get(second.id))!;
    assert.equal(once.attempts.length, 1);
    assert.match(once.attempts[0]!.error ?? '', /endpoint is failing/);

    // The receiver is back: a redelivery (a copy, same message id) goes through and heals it.
    r.up();
    const copy = await enqueue('job_fail2', 'msg_f2');
    r.dispatcher.kick();
    await until(async () => (await s.outbox.get(copy.id))!.status === 'delivered', 'the redelivery');
    assert.equal(await s.outbox.endpointFailingSince(url), null);
  });
}
