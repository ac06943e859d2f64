/**
 * Opens the embedded database: one file under the data dir, WAL so that readers (the API) never
 * wait on the writer (the runner), and the schema brought up to date before anything uses it.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PixeliftError } from '../../errors.js';
import { MIGRATIONS } from './migrations.js';

export type SqliteDatabase = Database.Database;

export function openDatabase(file: string | ':memory:'): SqliteDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // A CLI (`pixelift keys create`) may write while the server does: wait for the lock, do not fail.
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    // NORMAL under WAL: a power cut may lose the last commits but never corrupts the file.
    db.pragma('synchronous = NORMAL');
    migrate(db, file);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** The schema version of an open database (the number of migrations applied). */
export function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: SqliteDatabase, file: string): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    // Running an older build against a newer file would silently misread it.
    throw new PixeliftError('invalid_config', {
      message: `the database ${file} has schema version ${current}; this Pixelift knows up to ${MIGRATIONS.length}. Upgrade Pixelift or point it at another data dir`,
    });
  }
  MIGRATIONS.slice(current).forEach((sql, i) => {
    const step = db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${current + i + 1}`);
    });
    step.immediate();
  });
}
