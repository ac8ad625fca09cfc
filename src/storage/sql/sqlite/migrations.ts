/**
 * The SQLite schema, as numbered migrations (PostgreSQL gets its own list, numbered the same way). A database
 * records the last one applied in meta.schema_version; each runs once, in the transaction that records it.
 * Migration 1 is the schema tokenctl has used since its first service release: a database made then is at 1.
 */
export interface Migration {
  version: number;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
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
  credential_hash BLOB NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  UNIQUE (account_id, name_key)
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
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
-- A safety net under the core's rule: live names are unique per account, ignoring case.
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (account_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS tokens_account ON tokens (account_id);
CREATE TABLE IF NOT EXISTS rotations (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rotations_account ON rotations (account_id);
-- The audit trail: per account, each event chained to the one before by a MAC under the server key; the
-- account's head row keeps the last one, so cutting events off the end is detected too.
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
    // The Tokens page's sign-in sessions (issue 13). Only a hash of each session id is kept, so a copy of the
    // database signs nobody in; a removed principal's sessions go with it. Idle and absolute limits are the
    // service's rule, checked against last_seen_at and created_at.
    version: 2,
    sql: `
CREATE TABLE IF NOT EXISTS web_sessions (
  id_hash BLOB PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_principal ON web_sessions (principal_id);
CREATE INDEX IF NOT EXISTS web_sessions_last_seen ON web_sessions (last_seen_at);
`,
  },
  {
    // OneLink is premium (issue 12): an account's features, a JSON array (core/features.ts), set by the operator
    // (tokenctl server account --enable onelink). A new account starts with none. An account made before this
    // migration keeps OneLink when it has, or had, a OneLink token: an upgrade takes nothing away that is in use
    // (its tokens can still be rotated); the others start as a new account does, and the operator decides.
    version: 3,
    sql: `
ALTER TABLE accounts ADD COLUMN features TEXT NOT NULL DEFAULT '[]';
UPDATE accounts SET features = '["onelink"]' WHERE id IN (SELECT account_id FROM tokens WHERE type = 'onelink');
`,
  },
  {
    // Who still depends on a token, and signed notifications (issue 21). Numbered 5: another change takes 4 (the
    // runner applies what a database lacks in order, so the gap is harmless; it closes when both are merged).
    // - Usage per token: calls per UTC day (30 days kept) and per hour (48 hours kept, for "the last 24 hours"), and
    //   per caller (resource server and client address, or who retrieved the value; 30 days, at most 50 per token),
    //   with the calls made while the token was draining. Written in batches, counts added (usage/recorder.ts).
    // - token_notices: the time-based events already notified for a token, one letter each (rows.ts NOTICE_MARKS).
    // - Webhook endpoints (secrets sealed), the outbox of notifications, one delivery per endpoint (its state, next
    //   attempt and lease), and the delivery log of every attempt.
    version: 4,
    sql: `
CREATE TABLE IF NOT EXISTS token_notices (
  token_id TEXT PRIMARY KEY,
  marks TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_days (
  token_id TEXT NOT NULL,
  day TEXT NOT NULL,
  calls INTEGER NOT NULL,
  PRIMARY KEY (token_id, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_days_day ON usage_days (day);
CREATE TABLE IF NOT EXISTS usage_hours (
  token_id TEXT NOT NULL,
  hour TEXT NOT NULL,
  calls INTEGER NOT NULL,
  PRIMARY KEY (token_id, hour)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_hours_hour ON usage_hours (hour);
CREATE TABLE IF NOT EXISTS usage_callers (
  token_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('introspection', 'retrieval')),
  principal_id TEXT NOT NULL,
  address TEXT NOT NULL,
  principal_name TEXT NOT NULL,
  first_at TEXT NOT NULL,
  last_at TEXT NOT NULL,
  calls INTEGER NOT NULL,
  draining_calls INTEGER NOT NULL DEFAULT 0,
  draining_last_at TEXT,
  PRIMARY KEY (token_id, kind, principal_id, address)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_callers_last ON usage_callers (last_at);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
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
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT,
  lease_until INTEGER,
  PRIMARY KEY (message_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  message_id TEXT NOT NULL,
  type TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at TEXT NOT NULL,
  ok INTEGER NOT NULL,
  status INTEGER,
  error TEXT,
  ms INTEGER NOT NULL,
  next_attempt_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);
`,
  },
];

export const LATEST_SQLITE_VERSION = SQLITE_MIGRATIONS.at(-1)!.version;
