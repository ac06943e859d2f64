/**
 * The PostgreSQL schema as ordered migrations (entry i takes version i to i + 1), append only,
 * as for SQLite (../sqlite/migrations.ts), whose conventions it keeps: credits and costs in
 * integer hundredths, compared instants in epoch ms, the whole Job as JSON in `data` with the
 * queried fields copied into columns by the same write.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE api_keys (
    id text PRIMARY KEY,
    name text NOT NULL,
    secret_hash text NOT NULL UNIQUE,
    credits bigint,                 -- hundredths; NULL: unlimited
    origin text NOT NULL CHECK (origin IN ('config', 'store')),
    created_at text NOT NULL,
    revoked_at text,
    seq bigserial NOT NULL          -- listing order
  );

  CREATE TABLE jobs (
    seq bigserial PRIMARY KEY,      -- FIFO order and page cursors; never reused
    id text NOT NULL UNIQUE,
    status text NOT NULL,
    key_id text,
    created_at text NOT NULL,
    attempts integer NOT NULL,
    idempotency_key text,
    idempotency_fingerprint text,
    expires_at_ms bigint,
    cost bigint NOT NULL,           -- hundredths
    charged bigint NOT NULL,        -- hundredths debited at creation (what a refund gives back)
    refunded boolean NOT NULL,
    data jsonb NOT NULL
  );
  CREATE UNIQUE INDEX jobs_idempotency ON jobs (coalesce(key_id, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
  CREATE INDEX jobs_status ON jobs (status, seq);
  CREATE INDEX jobs_key ON jobs (key_id, status, seq);
  CREATE INDEX jobs_expiry ON jobs (expires_at_ms) WHERE status = 'succeeded';

  CREATE TABLE job_events (
    id bigserial PRIMARY KEY,       -- SSE ids: never reused
    job_id text NOT NULL,
    key_id text,
    type text NOT NULL,
    data jsonb NOT NULL,
    created_at text NOT NULL
  );
  CREATE INDEX job_events_job ON job_events (job_id, id);
  CREATE INDEX job_events_key ON job_events (key_id, id);

  CREATE TABLE webhook_deliveries (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    job_id text NOT NULL,
    event_type text NOT NULL,
    url text NOT NULL,
    message_id text NOT NULL,
    payload text NOT NULL,
    scheme text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts jsonb NOT NULL,        -- array of DeliveryAttempt
    next_attempt_at_ms bigint,
    created_at text NOT NULL
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
  CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, seq);

  CREATE TABLE uploads (
    id text PRIMARY KEY,
    key_id text,
    blob_key text NOT NULL,
    bytes bigint NOT NULL,
    content_type text NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    format text NOT NULL,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    expires_at_ms bigint NOT NULL
  );
  CREATE INDEX uploads_expiry ON uploads (expires_at_ms);

  -- Values every node must agree on and that are generated once (webhook and URL-signing secrets).
  CREATE TABLE shared_settings (
    name text PRIMARY KEY,
    value text NOT NULL
  );
  `,
  // Bring your own model: admin keys manage models over HTTP (POST/DELETE /v1/models), and
  // the registry every node reads them from (the file itself is a blob under its hash).
  `
  ALTER TABLE api_keys ADD COLUMN admin boolean NOT NULL DEFAULT false;

  CREATE TABLE user_models (
    id text PRIMARY KEY,
    file_name text NOT NULL,        -- <id>.<ext>, as it is kept in each node's models directory
    sha256 text NOT NULL,
    bytes bigint NOT NULL,
    blob_key text NOT NULL,         -- models/<sha256>
    created_at text NOT NULL
  );
  `,
  // Issue 16: round-robin dispatch between keys (see ../sqlite/migrations.ts), per-endpoint webhook state.
  `
  CREATE TABLE queue_turns (
    key text PRIMARY KEY,
    turn bigint NOT NULL
  );
  CREATE INDEX webhook_deliveries_url ON webhook_deliveries (url, seq);
  `,
];
