/**
 * How an API key's secret becomes what is stored: a SHA-256 hash, and an id derived from it, so
 * that a key listed in configuration keeps its id (its jobs, its balance) across restarts and
 * across every node and database backend.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';
import { toHundredths } from './money.js';

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
