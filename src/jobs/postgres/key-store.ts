/** API keys in PostgreSQL (see ../sqlite/key-store.ts for what is stored and why). */
import { randomBytes } from 'node:crypto';
import { invalidArgument } from '../../errors.js';
import {
  CONFIG_KEY_NAME,
  checkedCredits,
  hashSecret,
  KEY_COLUMNS,
  type KeyRow,
  keyIdOf,
  rowToKey,
} from '../key-secret.js';
import { toHundredths } from '../money.js';
import type { ApiKey, KeyStore } from '../store.js';
import { inTransaction, type PgPool } from './database.js';

export class PostgresKeyStore implements KeyStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async create(options: {
    readonly name: string;
    readonly credits: number | null;
    readonly admin?: boolean;
  }): Promise<{ key: ApiKey; secret: string }> {
    const credits = checkedCredits(options.credits);
    const secret = `pk_${randomBytes(32).toString('base64url')}`;
    const { rows } = await this.#pool.query<KeyRow>(
      `INSERT INTO api_keys (id, name, secret_hash, credits, origin, created_at, admin)
       VALUES ($1, $2, $3, $4, 'store', $5, $6) RETURNING ${KEY_COLUMNS}`,
      [
        keyIdOf(secret),
        options.name,
        hashSecret(secret),
        credits,
        new Date().toISOString(),
        options.admin === true,
      ],
    );
    return { key: rowToKey(rows[0]!), secret };
  }

  async syncConfigKeys(
    keys: readonly { readonly secret: string; readonly credits: number | null }[],
  ): Promise<void> {
    const now = new Date().toISOString();
    await inTransaction(this.#pool, async (c) => {
      // Every API node syncs at start: one at a time, so none sees a half-synced list.
      await c.query("SELECT pg_advisory_xact_lock(hashtext('pixelift.keys'))");
      for (const entry of keys) {
        const credits = checkedCredits(entry.credits);
        const id = keyIdOf(entry.secret);
        const { rows } = await c.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, [id]);
        const existing = rows[0];
        if (!existing) {
          await c.query(
            `INSERT INTO api_keys (id, name, secret_hash, credits, origin, created_at)
             VALUES ($1, $2, $3, $4, 'config', $5)`,
            [id, CONFIG_KEY_NAME, hashSecret(entry.secret), credits, now],
          );
          continue;
        }
        // A stated number seeds the balance; it does not refill a running one (as for SQLite).
        const nextCredits = credits === null || existing.credits === null ? credits : existing.credits;
        await c.query('UPDATE api_keys SET credits = $1, revoked_at = NULL WHERE id = $2', [nextCredits, id]);
      }
      await c.query(
        `UPDATE api_keys SET revoked_at = $1
         WHERE origin = 'config' AND revoked_at IS NULL AND NOT (id = ANY($2))`,
        [now, keys.map((k) => keyIdOf(k.secret))],
      );
    });
  }

  async authenticate(secret: string): Promise<ApiKey | undefined> {
    const { rows } = await this.#pool.query<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL`,
      [hashSecret(secret)],
    );
    return rows[0] && rowToKey(rows[0]);
  }

  async get(id: string): Promise<ApiKey | undefined> {
    const { rows } = await this.#pool.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, [
      id,
    ]);
    return rows[0] && rowToKey(rows[0]);
  }

  async list(): Promise<ApiKey[]> {
    const { rows } = await this.#pool.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY seq`);
    return rows.map(rowToKey);
  }

  async setCredits(id: string, credits: number | null): Promise<ApiKey | undefined> {
    await this.#pool.query('UPDATE api_keys SET credits = $1 WHERE id = $2', [checkedCredits(credits), id]);
    return this.get(id);
  }

  async addCredits(id: string, amount: number): Promise<ApiKey | undefined> {
    if (!Number.isFinite(amount)) throw invalidArgument('amount', 'finite number', amount);
    // Floored at 0, and an unlimited key stays unlimited (as for SQLite).
    await this.#pool.query(
      'UPDATE api_keys SET credits = greatest(0, credits + $1) WHERE id = $2 AND credits IS NOT NULL',
      [toHundredths(amount), id],
    );
    return this.get(id);
  }

  async revoke(id: string): Promise<ApiKey | undefined> {
    await this.#pool.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
      new Date().toISOString(),
      id,
    ]);
    return this.get(id);
  }

  async count(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(
      'SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL',
    );
    return rows[0]?.n ?? 0;
  }
}
