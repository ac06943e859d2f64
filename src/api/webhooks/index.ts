/**
 * Every dialect's webhook side in one table: the body each event sends, the signers and the
 * retry policies. Registered on JobEvents by server/ on API nodes and `pixelift worker` alike;
 * a dialect a job can be created in without an entry here stops the process at boot.
 */
import type { WebhookRetryPolicy, WebhookSigner } from '../../delivery/webhooks.js';
import type { WebhookFormatter } from '../../jobs/events.js';
import type { DialectName } from '../compat/names.js';
import { apiframeWebhooks } from '../compat/payloads/apiframe.js';
import { falWebhooks } from '../compat/payloads/fal.js';
import { replicateWebhooks } from '../compat/payloads/replicate.js';
import { runflowWebhooks } from '../compat/payloads/runflow.js';
import { runwareWebhooks } from '../compat/payloads/runware.js';
import type { DialectWebhooks, WebhookContext } from './context.js';
import { nativeWebhooks } from './native.js';

export type { DialectWebhooks, WebhookContext } from './context.js';

/** Oxen and Scenario document no callbacks: their requests take no webhook URL, so their jobs have none. */
const noWebhooks = (): DialectWebhooks => ({ formatter: { format: () => undefined } });

const WEBHOOKS: Readonly<Record<DialectName | 'native', (ctx: WebhookContext) => DialectWebhooks>> = {
  native: nativeWebhooks,
  runflow: runflowWebhooks,
  apiframe: apiframeWebhooks,
  oxen: noWebhooks,
  scenario: noWebhooks,
  runware: runwareWebhooks,
  replicate: replicateWebhooks,
  fal: falWebhooks,
};

export interface Webhooks {
  /** Dialect name → the formatter of its jobs' webhook bodies (`native` included). */
  readonly formatters: Readonly<Record<string, WebhookFormatter>>;
  readonly signers: Readonly<Record<string, WebhookSigner>>;
  readonly policies: Readonly<Record<string, WebhookRetryPolicy>>;
}

/**
 * The webhook side of `dialects` (plus native). Throws for a dialect with no entry, so that a
 * new dialect without a formatter fails at boot rather than sending nothing.
 */
export function dialectWebhooks(ctx: WebhookContext, dialects: readonly string[]): Webhooks {
  const missing = dialects.filter((d) => !Object.hasOwn(WEBHOOKS, d));
  if (missing.length > 0) {
    throw new Error(
      `no webhook formatter for dialect ${missing.join(', ')}: add one to src/api/webhooks/index.ts (a dialect with no callbacks registers one that sends none)`,
    );
  }
  const formatters: Record<string, WebhookFormatter> = {};
  const signers: Record<string, WebhookSigner> = {};
  const policies: Record<string, WebhookRetryPolicy> = {};
  for (const name of ['native', ...dialects]) {
    const hooks = WEBHOOKS[name as DialectName | 'native'](ctx);
    formatters[name] = hooks.formatter;
    Object.assign(signers, hooks.signers);
    Object.assign(policies, hooks.policies);
  }
  return { formatters, signers, policies };
}
