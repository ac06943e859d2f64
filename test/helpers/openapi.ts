/**
 * Checking real answers against an OpenAPI 3.0 document: the status must be one the operation
 * declares (exactly, as a `4XX` range, or `default`), the content type one of that response's
 * media types, and a JSON body must validate against the declared schema (Ajv, which reads the
 * document's `nullable`). Every check records the operation, so a test can demand that each one
 * was called.
 */
import assert from 'node:assert/strict';
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are walked field by field
export type OpenApiDocument = Record<string, any>;

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Every `METHOD /path` the document describes. */
export function operationsOf(doc: OpenApiDocument): string[] {
  const ops: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      if ((item as OpenApiDocument)[method]) ops.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return ops.sort();
}

/** `/v1/jobs/{id}` with `{id: 'job_1'}` → `/v1/jobs/job_1`. */
export function fillPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(value);
  });
}

function mediaMatches(declared: string, actual: string): boolean {
  if (declared === '*/*' || declared === actual) return true;
  return declared.endsWith('/*') && actual.startsWith(declared.slice(0, -1));
}

export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  /** The JSON body, when the answer is JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: bodies are read field by field
  readonly json: any;
}

export class SpecChecker {
  private readonly ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  /** `METHOD /path` → statuses seen. */
  readonly seen = new Map<string, number[]>();

  constructor(readonly doc: OpenApiDocument) {
    this.ajv.addSchema({ components: doc.components ?? {} }, 'openapi.json');
  }

  /** Reads `res`, checks it against `method path`'s declared responses, and returns it. */
  async check(method: string, path: string, res: Response): Promise<Answer> {
    const op = this.doc.paths?.[path]?.[method.toLowerCase()];
    const name = `${method.toUpperCase()} ${path}`;
    assert.ok(op, `${name} is not in the document`);
    const text = await res.text();
    const responses = op.responses as Record<string, OpenApiDocument>;
    const key = [String(res.status), `${Math.floor(res.status / 100)}XX`, 'default'].find(
      (k) => responses[k],
    );
    assert.ok(
      key,
      `${name} answered ${res.status}, which it does not declare (${Object.keys(responses).join(', ')}): ${text.slice(0, 300)}`,
    );
    this.seen.set(name, [...(this.seen.get(name) ?? []), res.status]);
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const declared = responses[key]!;
    const answer = { status: res.status, contentType, text, json: undefined as unknown };
    if (!declared.content) {
      assert.equal(text, '', `${name} ${res.status} declares no body but sent one`);
      return answer;
    }
    const media = Object.keys(declared.content).find((m) => mediaMatches(m, contentType));
    assert.ok(
      media,
      `${name} ${res.status} answered ${contentType || 'no content type'}, declared ${Object.keys(declared.content).join(', ')}`,
    );
    if (contentType === 'application/json' || contentType.endsWith('+json')) {
      answer.json = JSON.parse(text);
      const schema = declared.content[media].schema;
      if (schema) {
        const validate = this.validator(`${name} ${key} ${media}`, schema);
        assert.ok(
          validate(answer.json),
          `${name} ${res.status}: the body does not match the declared schema: ${this.ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`,
        );
      }
    }
    return answer;
  }

  private validator(id: string, schema: OpenApiDocument): ValidateFunction {
    let v = this.compiled.get(id);
    if (!v) {
      const rooted = JSON.parse(
        JSON.stringify(schema).replaceAll('"#/components/', '"openapi.json#/components/'),
      );
      v = this.ajv.compile(rooted);
      this.compiled.set(id, v);
    }
    return v;
  }
}

/**
 * Every `METHOD /path` the server routes (HEAD left out: Fastify adds one to each GET), read
 * from Fastify's route tree, in the document's spelling (`/v1/jobs/{id}`).
 */
export function routesOf(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^(.*?)[└├]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (parents[depth - 1] ?? '') + m[2]!;
    parents[depth] = path;
    parents.length = depth + 1;
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) {
      routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}
