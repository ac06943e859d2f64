/**
 * API keys. Only a SHA-256 of each secret is stored; a key's id is derived from that hash, so a
 * key listed in configuration keeps its id (and its jobs and balance) across restarts.
 * Authentication looks the hash up through a UNIQUE index: the secret itself is never compared
 * byte by byte, so there is no early-exit comparison to time.
 */
import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { invalidArgument } from '../../errors.js';
import {
  CONFIG_KEY_NAME,
  checkedCredits,
  hashSecret,
  type KeyRow,
  keyIdOf,
  rowToKey,
} from '../key-secret.js';
import { toHundredths } from '../money.js';
import type { ApiKey, KeyStore } from '../store.js';
import type { SqliteDatabase } from './database.js';

export { hashSecret, keyIdOf };

export class SqliteKeyStore implements KeyStore {
  readonly #db: SqliteDatabase;
  readonly #byId: Statement<[string], KeyRow>;
  readonly #insert: Statement<[string, string, string, number | null, ApiKey['origin'], string, number]>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#byId = db.prepare('SELECT * FROM api_keys WHERE id = ?');
    this.#insert = db.prepare(
      `INSERT INTO api_keys (id, name, secret_hash, credits, origin, created_at, revoked_at, admin)
       VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`,
    );
  }

  async create(options: {
    readonly name: string;
    readonly credits: number | null;
    readonly admin?: boolean;
  }): Promise<{ key: ApiKey; secret: string }> {
    const credits = checkedCredits(options.credits);
    const secret = `pk_${randomBytes(32).toString('base64url')}`;
    const id = keyIdOf(secret);
    this.#insert.run(
      id,
      options.name,
      hashSecret(secret),
      credits,
      'store',
      new Date().toISOString(),
      options.admin ? 1 : 0,
    );
    return { key: this.#get(id)!, secret };
  }

  async syncConfigKeys(
    keys: readonly { readonly secret: string; readonly credits: number | null }[],
  ): Promise<void> {
    const now = new Date().toISOString();
    const sync = this.#db.transaction(() => {
      for (const entry of keys) {
        const credits = checkedCredits(entry.credits);
        const id = keyIdOf(entry.secret);
        const existing = this.#byId.get(id);
        if (!existing) {
          this.#insert.run(id, CONFIG_KEY_NAME, hashSecret(entry.secret), credits, 'config', now, 0);
          continue;
        }
        // A stated number seeds the balance; it must not refill a running balance on every restart.
        // It does apply to a key that was unlimited, which has no balance to keep. null: unlimited.
        const nextCredits = credits === null || existing.credits === null ? credits : existing.credits;
        this.#db
          .prepare('UPDATE api_keys SET credits = ?, revoked_at = NULL WHERE id = ?')
          .run(nextCredits, id);
      }
      const listed = JSON.stringify(keys.map((k) => keyIdOf(k.secret)));
      this.#db
        .prepare(
          `UPDATE api_keys SET revoked_at = ?
           WHERE origin = 'config' AND revoked_at IS NULL AND id NOT IN (SELECT value FROM json_each(?))`,
        )
        .run(now, listed);
    });
    sync.immediate();
  }

  async authenticate(secret: string): Promise<ApiKey | undefined> {
    const row = this.#db
      .prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL')
      .get(hashSecret(secret));
    return row && rowToKey(row);
  }

  async get(id: string): Promise<ApiKey | undefined> {
    return this.#get(id);
  }

  async list(): Promise<ApiKey[]> {
    return this.#db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY rowid').all().map(rowToKey);
  }

  async setCredits(id: string, credits: number | null): Promise<ApiKey | undefined> {
    this.#db.prepare('UPDATE api_keys SET credits = ? WHERE id = ?').run(checkedCredits(credits), id);
    return this.#get(id);
  }

  async addCredits(id: string, amount: number): Promise<ApiKey | undefined> {
    if (!Number.isFinite(amount)) throw invalidArgument('amount', 'finite number', amount);
    // Floored at 0: removing more than is left empties the key; a negative balance would need
    // every reader to handle debt. An unlimited key stays unlimited.
    this.#db
      .prepare('UPDATE api_keys SET credits = max(0, credits + ?) WHERE id = ? AND credits IS NOT NULL')
      .run(toHundredths(amount), id);
    return this.#get(id);
  }

  async revoke(id: string): Promise<ApiKey | undefined> {
    this.#db
      .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), id);
    return this.#get(id);
  }

  async count(): Promise<number> {
    return this.#db
      .prepare<[], number>('SELECT count(*) FROM api_keys WHERE revoked_at IS NULL')
      .pluck()
      .get()!;
  }

  #get(id: string): ApiKey | undefined {
    const row = this.#byId.get(id);
    return row && rowToKey(row);
  }
}
