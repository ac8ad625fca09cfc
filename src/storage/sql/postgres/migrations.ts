import type { Sql } from 'postgres';
import { StoreDataError } from '../../../core/errors.js';
import { namedPostgresFault } from './faults.js';
import type { Migration } from '../sqlite/migrations.js';

/** The advisory lock that serialises schema migrations across replicas (an arbitrary, fixed 64-bit key). */
const MIGRATION_LOCK = 7_303_884_211_001;

/**
 * The PostgreSQL schema: the same tables and columns as SQLite's, in PostgreSQL's types, numbered on their own (SQLite
 * has the Tokens page's sessions as its migration 2, PostgreSQL as its 3, with the shared failed-authentication counts). Applied by
 * PostgresStorage.migrate under an advisory lock, so replicas starting at once migrate once.
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signing_keys (
  kid TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  public_jwk TEXT NOT NULL,
  private_key TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS principals (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'partner', 'service')),
  credential_hash BYTEA NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  UNIQUE (account_id, name_key)
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  seq BIGSERIAL NOT NULL,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('api', 'onelink', 's2s')),
  created_at TEXT NOT NULL,
  activates_at TEXT NOT NULL,
  deleted_at TEXT,
  last_used_at TEXT,
  masked TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  secret TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (account_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS tokens_account ON tokens (account_id);
CREATE TABLE IF NOT EXISTS rotations (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  seq BIGSERIAL NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rotations_account ON rotations (account_id);
CREATE TABLE IF NOT EXISTS audit_events (
  account_id TEXT NOT NULL REFERENCES accounts(id),
  seq INTEGER NOT NULL,
  line TEXT NOT NULL,
  PRIMARY KEY (account_id, seq)
);
CREATE TABLE IF NOT EXISTS audit_heads (
  account_id TEXT PRIMARY KEY REFERENCES accounts(id),
  seq INTEGER NOT NULL,
  mac TEXT NOT NULL
);
`,
  },
  {
    // OneLink is premium (issue 12), as SQLite's migration 3: an account's features as a JSON array; a new account
    // starts with none, an existing one keeps OneLink when it has, or had, a OneLink token.
    version: 2,
    sql: `
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS features TEXT NOT NULL DEFAULT '[]';
UPDATE accounts SET features = '["onelink"]' WHERE id IN (SELECT account_id FROM tokens WHERE type = 'onelink');
`,
  },
  {
    // Replicas (issue 10): the Tokens page's sign-in sessions (SQLite's migration 2), so any replica serves any
    // session; and failed authentications per client address, so the limit (10 a minute) holds across replicas.
    // Times of the limiter are epoch milliseconds of the replica that counted (a second of skew is harmless).
    version: 3,
    sql: `
CREATE TABLE IF NOT EXISTS web_sessions (
  id_hash BYTEA PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_principal ON web_sessions (principal_id);
CREATE INDEX IF NOT EXISTS web_sessions_last_seen ON web_sessions (last_seen_at);
CREATE TABLE IF NOT EXISTS auth_failures (
  address TEXT PRIMARY KEY,
  window_start BIGINT NOT NULL,
  failures INTEGER NOT NULL,
  blocked_until BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_deleted_at ON tokens (deleted_at);
`,
  },
  {
    // Replicas through faults (issue 17): every write records a random operation id in its own transaction, so a
    // write whose COMMIT lost its connection is decided by looking for it on the primary that answers, even after a
    // failover (a transaction id is reused by the new primary). Kept an hour (PostgresStorage.forgetOperations).
    version: 4,
    sql: `
CREATE TABLE IF NOT EXISTS write_operations (
  id TEXT PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS write_operations_at ON write_operations (at);
`,
  },
  {
    // Who still depends on a token, and signed notifications (issue 21), as SQLite's migration 4.
    // Claims of deliveries take SKIP LOCKED row locks and a lease, so each attempt is made by one replica.
    version: 5,
    sql: `
CREATE TABLE IF NOT EXISTS token_notices (
  token_id TEXT PRIMARY KEY,
  marks TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_days (
  token_id TEXT NOT NULL,
  day TEXT NOT NULL,
  calls BIGINT NOT NULL,
  PRIMARY KEY (token_id, day)
);
CREATE INDEX IF NOT EXISTS usage_days_day ON usage_days (day);
CREATE TABLE IF NOT EXISTS usage_hours (
  token_id TEXT NOT NULL,
  hour TEXT NOT NULL,
  calls BIGINT NOT NULL,
  PRIMARY KEY (token_id, hour)
);
CREATE INDEX IF NOT EXISTS usage_hours_hour ON usage_hours (hour);
CREATE TABLE IF NOT EXISTS usage_callers (
  token_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('introspection', 'retrieval')),
  principal_id TEXT NOT NULL,
  address TEXT NOT NULL,
  principal_name TEXT NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  calls BIGINT NOT NULL,
  draining_calls BIGINT NOT NULL DEFAULT 0,
  draining_last_at TEXT,
  PRIMARY KEY (token_id, kind, principal_id, address)
);
CREATE INDEX IF NOT EXISTS usage_callers_last ON usage_callers (last_at);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  seq BIGSERIAL NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  description TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_endpoints_account ON webhook_endpoints (account_id);
CREATE TABLE IF NOT EXISTS webhook_messages (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_messages_created ON webhook_messages (created_at);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  message_id TEXT NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_owner TEXT,
  lease_until BIGINT,
  PRIMARY KEY (message_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
  seq BIGSERIAL PRIMARY KEY,
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  message_id TEXT NOT NULL,
  type TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at TEXT NOT NULL,
  ok BOOLEAN NOT NULL,
  status INTEGER,
  error TEXT,
  ms INTEGER NOT NULL,
  next_attempt_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);
`,
  },
];

export const LATEST_POSTGRES_VERSION = POSTGRES_MIGRATIONS.at(-1)!.version;

/** The schema version of the database (0: none yet), and the one this tokenctl brings it to. */
export async function schemaVersions(sql: Sql): Promise<{ current: number; latest: number }> {
  try {
    const [hasMeta] = await sql`SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'`;
    const current = hasMeta ? Number((await sql<{ value: string }[]>`SELECT value FROM meta WHERE key = 'schema_version'`)[0]?.value ?? 0) : 0;
    return { current, latest: LATEST_POSTGRES_VERSION };
  } catch (error) {
    throw namedPostgresFault(error);
  }
}

/** Applies the migrations the database lacks (`tokenctl server migrate`; every replica does it at start too). */
export async function migratePostgres(sql: Sql): Promise<void> {
  try {
    await migrate(sql);
  } catch (error) {
    throw namedPostgresFault(error);
  }
}

/** Applies the migrations the database lacks, under an advisory lock; refuses a schema newer than this tokenctl's. */
export async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    // Not under the request-sized timeouts: an index on a large table, or replicas waiting for the one migrating.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SET LOCAL lock_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    const [hasMeta] = await tx`SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'meta'`;
    const current = hasMeta ? Number((await tx<{ value: string }[]>`SELECT value FROM meta WHERE key = 'schema_version'`)[0]?.value ?? 0) : 0;
    if (!Number.isInteger(current) || current > LATEST_POSTGRES_VERSION) {
      throw new StoreDataError(`the database has schema version ${current}; this tokenctl knows versions up to ${LATEST_POSTGRES_VERSION}: upgrade tokenctl on every replica`);
    }
    for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version > current)) {
      await tx.unsafe(m.sql);
      await tx`INSERT INTO meta (key, value) VALUES ('schema_version', ${String(m.version)}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
    }
  });
}
