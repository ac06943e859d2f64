/**
 * The scale-out database: a pg Pool over PIXELIFT_DATABASE_URL, every connection's search_path
 * set to one schema (PIXELIFT_DATABASE_SCHEMA, so several deployments or test runs can share a
 * database), and the schema brought up to date before anything uses it.
 */
import pg from 'pg';
import { invalidArgument, PixeliftError } from '../../errors.js';
import { MIGRATIONS } from './migrations.js';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'>;

/** int8 (bigserial ids, counts, hundredths, epoch ms) as numbers: every value stored fits in 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  readonly url: string;
  /** Schema holding Pixelift's tables; created when missing. */
  readonly schema: string;
  /** Connections in the pool. */
  readonly max?: number;
}

export async function openPool(options: PostgresOptions): Promise<PgPool> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
    throw invalidArgument('schema', 'lower-case SQL identifier (a-z, 0-9, _)', options.schema);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    // Every connection works in the schema; `options` is the startup parameter, so no query can run first.
    options: `-c search_path=${options.schema}`,
    types,
  });
  // An idle connection that the server drops must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, options.schema);
    return pool;
  } catch (err) {
    await pool.end();
    throw err;
  }
}

/** Run `fn` in one transaction on one connection; rolled back when it throws. */
export async function inTransaction<T>(pool: PgPool, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The schema version (migrations applied) of the pool's schema. */
export async function schemaVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ version: number }>('SELECT version FROM pixelift_schema');
  return rows[0]?.version ?? 0;
}

/**
 * Nodes starting together all try to migrate: an advisory lock per schema lets one do it while
 * the others wait, then find nothing left to do.
 */
async function migrate(pool: PgPool, schema: string): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query("SELECT pg_advisory_xact_lock(hashtext('pixelift.migrate:' || $1))", [schema]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query('CREATE TABLE IF NOT EXISTS pixelift_schema (version integer NOT NULL)');
    const { rows } = await c.query<{ version: number }>('SELECT version FROM pixelift_schema');
    if (rows.length === 0) await c.query('INSERT INTO pixelift_schema (version) VALUES (0)');
    const current = rows[0]?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new PixeliftError('invalid_config', {
        param: 'PIXELIFT_DATABASE_URL',
        message: `the database schema ${schema} has version ${current}; this Pixelift knows up to ${MIGRATIONS.length}. Upgrade Pixelift or point it at another schema`,
      });
    }
    for (const [i, sql] of MIGRATIONS.slice(current).entries()) {
      await c.query(sql);
      await c.query('UPDATE pixelift_schema SET version = $1', [current + i + 1]);
    }
  });
}
