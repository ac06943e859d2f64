/**
 * How an API key's secret becomes what is stored: a SHA-256 hash, and an id derived from it, so
 * that a key listed in configuration keeps its id (its jobs, its balance) across restarts and
 * across every node and database backend.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';
import { fromHundredths, toHundredths } from './money.js';
import type { ApiKey } from './store.js';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function keyIdOf(secret: string): string {
  return `key_${hashSecret(secret).slice(0, 16)}`;
}

/** Credits → stored hundredths; null (unlimited) passes through. */
export function checkedCredits(credits: number | null): number | null {
  if (credits === null) return null;
  if (!Number.isFinite(credits) || credits < 0)
    throw invalidArgument('credits', 'non-negative number or null', credits);
  return toHundredths(credits);
}

/** The name shown for keys that come from configuration (they have no other). */
export const CONFIG_KEY_NAME = 'config';

/** A key as both stores keep it (credits in hundredths; never the secret, only its hash elsewhere). */
export interface KeyRow {
  readonly id: string;
  readonly name: string;
  readonly credits: number | null;
  readonly origin: ApiKey['origin'];
  readonly created_at: string;
  readonly revoked_at: string | null;
  /** SQLite: 0/1; PostgreSQL: boolean. */
  readonly admin: number | boolean;
}

export const KEY_COLUMNS = 'id, name, credits, origin, created_at, revoked_at, admin';

export function rowToKey(row: KeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    credits: row.credits === null ? null : fromHundredths(row.credits),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    origin: row.origin,
    admin: Boolean(row.admin),
  };
}
