/**
 * The schema as an ordered list of migrations: entry i brings `PRAGMA user_version` from i to
 * i + 1. Append only; never edit a migration that has shipped, since databases already past it
 * would not run it again.
 *
 * Conventions: credits and costs are INTEGER hundredths (float sums drift: 0.1 + 0.2 ≠ 0.3);
 * instants that queries compare are INTEGER epoch ms (`*_ms`), so no two ISO spellings of the
 * same instant can sort apart. Jobs keep the whole record as JSON in `data`; the other columns
 * are copies of the fields that queries filter or order on, written together with it.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    credits INTEGER,                -- hundredths; NULL: unlimited
    origin TEXT NOT NULL CHECK (origin IN ('config', 'store')),
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );

  CREATE TABLE jobs (
    -- AUTOINCREMENT: a seq is never reused, so cursors and FIFO order survive deletes.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    key_id TEXT,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    idempotency_key TEXT,
    idempotency_fingerprint TEXT,
    expires_at_ms INTEGER,
    cost INTEGER NOT NULL,          -- hundredths
    charged INTEGER NOT NULL,       -- hundredths actually debited at creation (what a refund gives back)
    refunded INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  -- coalesce: NULLs are distinct in a UNIQUE index, and open-mode (NULL key) jobs need the check too.
  CREATE UNIQUE INDEX jobs_idempotency ON jobs (coalesce(key_id, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX jobs_status ON jobs (status, seq);
  CREATE INDEX jobs_key ON jobs (key_id, status, seq);
  CREATE INDEX jobs_expiry ON jobs (expires_at_ms) WHERE status = 'succeeded';

  CREATE TABLE job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- SSE ids: never reused
    job_id TEXT NOT NULL,
    key_id TEXT,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX job_events_job ON job_events (job_id, id);
  CREATE INDEX job_events_key ON job_events (key_id, id);

  CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    message_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    scheme TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts TEXT NOT NULL,         -- JSON array of DeliveryAttempt
    next_attempt_at_ms INTEGER,
    created_at TEXT NOT NULL
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
  CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, seq);

  CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    key_id TEXT,
    blob_key TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
  );
  CREATE INDEX uploads_expiry ON uploads (expires_at_ms);
  `,
  // Admin keys manage models over HTTP (POST/DELETE /v1/models).
  `
  ALTER TABLE api_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
  `,
  // Issue 16: round-robin dispatch between keys, and per-endpoint webhook state.
  `
  -- One row per key that has had a job claimed: its turn, a counter that only grows. The queue
  -- serves the key whose last turn is oldest first (open mode's NULL key is '').
  CREATE TABLE queue_turns (
    key TEXT PRIMARY KEY,
    turn INTEGER NOT NULL
  );
  CREATE INDEX webhook_deliveries_url ON webhook_deliveries (url, seq);
  `,
];
