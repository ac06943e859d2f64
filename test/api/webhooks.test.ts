/**
 * The webhook side of the dialects (api/webhooks): one table the API nodes and `pixelift worker`
 * both register, checked at boot so that a dialect without a formatter stops the process instead
 * of its jobs' callbacks never being sent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS } from '../../src/api/compat/index.js';
import { DIALECT_NAMES } from '../../src/api/compat/names.js';
import { dialectWebhooks, type WebhookContext } from '../../src/api/webhooks/index.js';
import { JobEvents } from '../../src/jobs/events.js';
import { openSqliteStores } from '../../src/jobs/sqlite/index.js';
import { silentLogger } from '../../src/log.js';
import { FsBlobStore } from '../../src/storage/fs-store.js';
import { tempDir } from '../helpers/models.js';
import { makeJob } from '../jobs/fixtures.js';

function context(): WebhookContext & { close(): void } {
  const stores = openSqliteStores(':memory:');
  return {
    presenter: { fileUrl: (id) => `http://127.0.0.1:1/v1/files/${id}` },
    blobs: new FsBlobStore(tempDir()),
    jobs: stores.jobs,
    runflowSigningSecret: undefined,
    close: () => stores.close(),
  };
}

test('the dialects a worker formats for are the dialects the API mounts', () => {
  assert.deepEqual(
    DIALECTS.map((d) => d.name),
    [...DIALECT_NAMES],
  );
});

test('every mounted dialect and the native API get a formatter, signers and retry policies', () => {
  const ctx = context();
  const hooks = dialectWebhooks(
    ctx,
    DIALECTS.map((d) => d.name),
  );
  ctx.close();
  assert.deepEqual(Object.keys(hooks.formatters).sort(), ['native', ...DIALECT_NAMES].sort());
  // The schemes the dialects' deliveries name must each have a signer, or the dispatcher cannot sign them.
  assert.deepEqual(Object.keys(hooks.signers).sort(), ['apiframe', 'replicate', 'runflow', 'runware']);
  assert.deepEqual(Object.keys(hooks.policies), ['runflow']);
});

test('BAD CALL - a dialect with no webhook formatter fails at boot, naming the dialect', () => {
  const ctx = context();
  assert.throws(
    () => dialectWebhooks(ctx, ['runflow', 'pixelfoo']),
    (err: Error) => /pixelfoo/.test(err.message) && /src\/api\/webhooks\/index\.ts/.test(err.message),
  );
  ctx.close();
});

test('an event of a job whose dialect has no formatter is logged as an error, not dropped in silence', async () => {
  const stores = openSqliteStores(':memory:');
  const errors: { obj: unknown; msg: string | undefined }[] = [];
  const events = new JobEvents({
    jobs: stores.jobs,
    kickWebhooks: () => undefined,
    logger: {
      ...silentLogger,
      error: ((obj: unknown, msg?: string) => errors.push({ obj, msg })) as typeof silentLogger.error,
    },
    formatters: {},
  });
  const job = makeJob({
    request: {
      ...makeJob().request,
      dialect: 'pixelfoo',
      webhook: { url: 'http://127.0.0.1:1/hook', events: ['queued'] },
    },
  });
  // A non-native job's formatter is asked about every event; none here, so the queued event tells.
  await stores.jobs.create(job, { webhook: events.webhook });
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.msg ?? '', /no webhook formatter/);
  assert.equal(await stores.outbox.pendingCount(), 0);
  stores.close();
});
