/**
 * `pixelift keys`: create, list, credit and revoke API keys, kept hashed where the server keeps
 * them: the SQLite store, or PostgreSQL in scale-out (PIXELIFT_DATABASE_URL and the rest set).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { config as loadConfig } from '../config.js';
import { PixeliftError } from '../errors.js';
import { openPostgresStores } from '../jobs/postgres/index.js';
import { openSqliteStores } from '../jobs/sqlite/index.js';
import type { KeyStore } from '../jobs/store.js';

async function stores(): Promise<{ keys: KeyStore; close(): void | Promise<void> }> {
  const c = loadConfig();
  if (c.scaleOut) {
    return openPostgresStores({ url: c.scaleOut.databaseUrl, schema: c.scaleOut.databaseSchema });
  }
  return openSqliteStores(path.join(c.dataDir, 'pixelift.db'));
}

function credits(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) {
    throw new PixeliftError('invalid_argument', {
      param: 'credits',
      message: `Expected a number of credits but received "${v}"`,
    });
  }
  return n;
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage API keys and their credits');

  keys
    .command('create')
    .description('create a key (printed once; only its hash is stored)')
    .option('-n, --name <name>', 'a label for the key', 'default')
    .option('-c, --credits <n>', 'starting credits (default: unlimited)', credits)
    .option('--admin', 'the key may also add and remove models over HTTP (POST/DELETE /v1/models)')
    .option('--json', 'print as JSON')
    .action(async (opts: { name: string; credits?: number; admin?: boolean; json?: boolean }) => {
      const s = await stores();
      try {
        const { key, secret } = await s.keys.create({
          name: opts.name,
          credits: opts.credits ?? null,
          admin: opts.admin === true,
        });
        if (opts.json) console.log(JSON.stringify({ ...key, secret }));
        else {
          console.log(secret);
          console.error(
            `created ${key.admin ? 'admin key ' : ''}${key.id} (${key.name}), credits: ${key.credits ?? 'unlimited'}. Keep the key: it is not shown again.`,
          );
        }
      } finally {
        await s.close();
      }
    });

  keys
    .command('list')
    .description('list keys (ids, names, credits; never the secrets)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const s = await stores();
      try {
        const list = await s.keys.list();
        if (opts.json) console.log(JSON.stringify(list, null, 2));
        else {
          for (const k of list) {
            console.log(
              `${k.id}\t${k.name}\t${k.credits ?? 'unlimited'}\t${k.origin}${k.admin ? ' admin' : ''}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'live'}`,
            );
          }
        }
      } finally {
        await s.close();
      }
    });

  keys
    .command('credit <id> <amount>')
    .description('add credits to a key (a negative amount removes them)')
    .action(async (id: string, amount: string) => {
      const s = await stores();
      try {
        const key = await s.keys.addCredits(id, credits(amount));
        if (!key) throw new PixeliftError('invalid_argument', { param: 'id', message: `No key "${id}"` });
        console.log(`${key.id}\t${key.credits ?? 'unlimited'}`);
      } finally {
        await s.close();
      }
    });

  keys
    .command('revoke <id>')
    .description('revoke a key: requests with it get 401 from then on')
    .action(async (id: string) => {
      const s = await stores();
      try {
        const key = await s.keys.revoke(id);
        if (!key) throw new PixeliftError('invalid_argument', { param: 'id', message: `No key "${id}"` });
        console.log(`${key.id}\trevoked`);
      } finally {
        await s.close();
      }
    });
}
