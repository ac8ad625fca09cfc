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
];

export const LATEST_SQLITE_VERSION = SQLITE_MIGRATIONS.at(-1)!.version;
