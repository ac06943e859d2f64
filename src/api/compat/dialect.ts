/**
 * What a compatibility dialect is (DESIGN §1, §5): routes under `/compat/<name>` that translate
 * the provider's requests into SubmitRequests and Jobs into the provider's responses, and an
 * error shape. Its webhook side (body, signature, retry policy) is a plain module in payloads/,
 * registered in api/webhooks/index.ts, so that a worker formats webhooks without Fastify.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.js';
import type { DialectName } from './names.js';

export interface Dialect {
  /** `runflow`, `apiframe`, …: the job's `request.dialect` and the mount `/compat/<name>`. */
  readonly name: DialectName;
  mount(api: FastifyInstance, deps: ApiDeps): Promise<void>;
}
