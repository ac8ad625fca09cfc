import { StorageUnavailableError, StoreDataError, TokenctlError } from '../../core/errors.js';
import { FEATURES, parseStoredFeatures, type Feature } from '../../core/features.js';
import type { LifecycleNotice } from '../../core/notifications.js';
import type { Role } from '../../core/roles.js';
import type { UsageCaller, UsageKind } from '../../core/usage.js';
import type { UsageRecords } from '../../core/usage-records.js';
import type { TokenType } from '../../core/tokens.js';
import { publishedJwk, type PublicJwk } from '../../secrets/jwt.js';
import type { StoredAccount, StoredSigningKey, StoredToken } from '../port.js';
import type { PrincipalRecord, PublicSigningKey, WebhookAttemptRecord, WebhookDeliveryStats, WebhookEndpointRecord } from '../service-port.js';

/**
 * The rows of the SQL storages (SQLite and PostgreSQL share one schema, in each engine's types) and what they mean
 * on the ports, written once: both engines map their rows through here and word their refusals the same way.
 */

export interface TokenRow {
  id: string;
  account_id: string;
  name: string;
  type: TokenType;
  created_at: string;
  activates_at: string;
  deleted_at: string | null;
  last_used_at: string | null;
  masked: string;
  fingerprint: string;
  secret: string | null;
}

export interface PrincipalRow {
  id: string;
  account_id: string;
  name: string;
  role: Role;
  credential_hash: Buffer;
  created_at: string;
}

export interface AccountRow {
  id: string;
  name: string;
  created_at: string;
  features: string;
}

export interface SigningKeyRow {
  kid: string;
  account_id: string;
  public_jwk: string;
}

export const toStoredToken = (r: TokenRow): StoredToken => ({
  id: r.id,
  name: r.name,
  type: r.type,
  createdAt: r.created_at,
  activatesAt: r.activates_at,
  deletedAt: r.deleted_at,
  lastUsedAt: r.last_used_at,
  masked: r.masked,
  fingerprint: r.fingerprint,
  secret: r.secret,
});

export const toPrincipal = (r: PrincipalRow): PrincipalRecord => ({ id: r.id, accountId: r.account_id, name: r.name, role: r.role, createdAt: r.created_at });

/** An account row as the port's StoredAccount; features that do not parse are a data error, never "all". */
export function toStoredAccount(r: AccountRow): StoredAccount {
  const features = parseStoredFeatures(r.features);
  if (features === null) throw new StoreDataError(`account ${r.id} has unreadable features in the database; restore it from a backup or set them with: tokenctl server account --enable/--disable`);
  return { id: r.id, name: r.name, createdAt: r.created_at, features };
}

/** The features column of a new account: absent in the input means every feature (see StoredAccount). */
export const featuresColumn = (account: StoredAccount): string => JSON.stringify(account.features ?? FEATURES);

/** The features column as set by the operator, in FEATURES' order. */
export const setFeaturesColumn = (features: readonly Feature[]): string => JSON.stringify(FEATURES.filter((f) => features.includes(f)));

/** A stored public key as the JWKS publishes it, with the algorithm its type signs with. */
export const toPublicSigningKey = (r: SigningKeyRow, accountId: string = r.account_id): PublicSigningKey => ({
  kid: r.kid,
  accountId,
  publicJwk: publishedJwk(JSON.parse(r.public_jwk) as PublicJwk, r.kid),
});

/** A stored signing key row (sealed private key included) as the port's StoredSigningKey. */
export interface SigningKeySecretRow {
  kid: string;
  public_jwk: string;
  private_key: string;
  created_at: string;
}

export const toStoredSigningKey = (row: SigningKeySecretRow): StoredSigningKey => ({
  kid: row.kid,
  publicJwk: JSON.parse(row.public_jwk) as PublicJwk,
  privateKey: row.private_key,
  createdAt: row.created_at,
});

/** Two accounts may not have the same name (ignoring case). */
export const accountTaken = (name: string): TokenctlError =>
  new TokenctlError('conflict', `an account named '${name}' already exists on this service; pick another --account, or add a principal to it with: tokenctl server add-principal`);

/** Two principals of an account may not have the same name (ignoring case). */
export const principalTaken = (name: string): TokenctlError => new TokenctlError('usage', `a principal named '${name}' already exists in this account; choose another --name`);

/** A write of a token that is not in the account's rows: the rules never ask for it, so the data is not what it was. */
export const tokenNotInAccount = (id: string): StoreDataError => new StoreDataError(`token ${id} is not in this account's rows`);

/** An account without a signing key cannot mint API tokens. */
export const noSigningKey = (accountId: string): StoreDataError => new StoreDataError(`account ${accountId} has no signing key; restore the database from a backup`);

/** An audit line that does not parse (a damaged database). */
export const unreadableAuditEvent = (n: number): StoreDataError => new StoreDataError(`audit event ${n} of this account is unreadable; check the trail with: tokenctl log --verify`);


/** What every operation of a closed storage answers (the service is stopping): a 503, never a crash. */
export const storageClosed = (): StorageUnavailableError => new StorageUnavailableError('the token service is shutting down; retry', { retryAfterSeconds: 1 });
// ---- usage and notifications (issue 21) ------------------------------------------------------------------------

/** How token_notices records the time-based events already notified: one letter each. */
export const NOTICE_MARKS: Readonly<Record<LifecycleNotice, string>> = { activated: 'a', stale_soon: 'w', stale: 's', revoked: 'r' };

export interface UsageCallerRow {
  token_id: string;
  kind: UsageKind;
  principal_id: string;
  address: string;
  principal_name: string;
  first_at: string;
  last_at: string;
  calls: number | string;
  draining_calls: number | string;
  draining_last_at: string | null;
}

/** A caller row as core/usage.ts reads it ('' in a key column is "unknown"). */
export const toUsageCaller = (r: UsageCallerRow): UsageCaller => ({
  kind: r.kind,
  principalId: r.principal_id === '' ? null : r.principal_id,
  principalName: r.principal_name === '' ? null : r.principal_name,
  address: r.address === '' ? null : r.address,
  firstSeenAt: r.first_at,
  lastSeenAt: r.last_at,
  calls: Number(r.calls),
  drainingCalls: Number(r.draining_calls),
  drainingLastSeenAt: r.draining_last_at,
});

/** Usage rows gathered per token (every token asked for has an entry, empty when it has no rows). */
export function gatherUsage(
  tokens: readonly { id: string; last_used_at: string | null }[],
  days: readonly { token_id: string; day: string; calls: number | string }[],
  hours: readonly { token_id: string; hour: string; calls: number | string }[],
  callers: readonly UsageCallerRow[],
): Map<string, UsageRecords> {
  const out = new Map<string, { lastUsedAt: string | null; days: { day: string; calls: number }[]; hours: { hour: string; calls: number }[]; callers: UsageCaller[] }>();
  for (const t of tokens) out.set(t.id, { lastUsedAt: t.last_used_at, days: [], hours: [], callers: [] });
  for (const d of days) out.get(d.token_id)?.days.push({ day: d.day, calls: Number(d.calls) });
  for (const h of hours) out.get(h.token_id)?.hours.push({ hour: h.hour, calls: Number(h.calls) });
  for (const c of callers) out.get(c.token_id)?.callers.push(toUsageCaller(c));
  return out;
}

export interface WebhookEndpointRow {
  id: string;
  account_id: string;
  url: string;
  events: string;
  description: string;
  secret: string;
  created_at: string;
  created_by: string;
}

export const toWebhookEndpoint = (r: WebhookEndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  accountId: r.account_id,
  url: r.url,
  events: JSON.parse(r.events) as string[],
  description: r.description,
  secret: r.secret,
  createdAt: r.created_at,
  createdBy: r.created_by,
});

export interface WebhookAttemptRow {
  message_id: string;
  type: string;
  attempt: number;
  at: string;
  ok: number | boolean;
  status: number | null;
  error: string | null;
  ms: number;
  next_attempt_at: string | null;
}

export const toWebhookAttempt = (r: WebhookAttemptRow): WebhookAttemptRecord => ({
  messageId: r.message_id,
  type: r.type,
  attempt: Number(r.attempt),
  at: r.at,
  ok: r.ok === true || r.ok === 1,
  status: r.status === null ? null : Number(r.status),
  error: r.error,
  ms: Number(r.ms),
  nextAttemptAt: r.next_attempt_at,
});

/** An endpoint's deliveries by state, and its last attempt. */
export function deliveryStats(
  endpoints: readonly { id: string }[],
  counts: readonly { endpoint_id: string; state: string; n: number | string }[],
  last: readonly (WebhookAttemptRow & { endpoint_id: string })[],
): WebhookDeliveryStats[] {
  return endpoints.map((e) => {
    const n = (state: string) => Number(counts.find((c) => c.endpoint_id === e.id && c.state === state)?.n ?? 0);
    const l = last.find((x) => x.endpoint_id === e.id);
    return { endpointId: e.id, pending: n('pending'), failed: n('failed'), delivered: n('delivered'), lastAttempt: l ? toWebhookAttempt(l) : null };
  });
}

/** The delivery log keeps this many attempts per endpoint at most (older ones go first), and none older than 30 days. */
export const KEEP_ATTEMPTS_PER_ENDPOINT = 1_000;
/** Finished notifications (delivered or failed everywhere) are forgotten after this long. */
export const KEEP_FINISHED_MESSAGES_MS = 7 * 24 * 3_600_000;
export const KEEP_ATTEMPTS_MS = 30 * 24 * 3_600_000;
