import type { Clock } from '../core/clock.js';
import { auditEntries, type AuditEntry, type AuditEvent } from '../core/audit.js';
import type { VerifyResult } from '../core/audit-chain.js';
import { StoreDataError, TokenNotFoundError, UsageError } from '../core/errors.js';
import { assertMayCreateType, FEATURE_OF_TYPE, type Feature } from '../core/features.js';
import { normalizeTokenName } from '../core/names.js';
import {
  assertRotationSlot,
  deriveReplacementName,
  findUnfinishedRotation,
  planAbandon,
  planCompletion,
  planDelivery,
  planRotation,
  RotationError,
  type RotationRecord,
} from '../core/rotation.js';
import {
  alreadyDeleted,
  assertRetrievable,
  isDeletePhrase,
  planCreateToken,
  planDeleteToken,
  planRenameToken,
  resolveToken,
  POLICY,
  type TokenRecord,
  type TokenType,
} from '../core/tokens.js';
import type { PublishedJwk, SigningAlg } from '../secrets/jwt.js';
import type { Sealer } from '../secrets/seal.js';
import type { AccountWriter, ChangeContext, StoredAccount, StoredToken, TokenStorage } from '../storage/port.js';

/**
 * The token use cases, written once: the local backend runs them over the JSON-file store, the token service's
 * routes over SQL storage. Each operation is one storage transaction that applies the core's rules to the
 * account's current rows, records its audit entries and commits, or changes nothing.
 *
 * The cryptography (node:crypto, jose) is loaded by the operations that need it: `list` reads metadata only.
 */
let secretsModule: Promise<typeof import('../secrets/index.js')> | undefined;
const secrets = () => (secretsModule ??= import('../secrets/index.js'));

export interface RevealedToken {
  token: TokenRecord;
  value: string;
}

export interface RotationStart {
  rotation: RotationRecord;
  old: TokenRecord;
  replacement: RevealedToken;
}

/** The account's public signing keys (a JWK set), to verify API tokens offline: every key, the newest last. */
export interface AccountKeys {
  accountId: string;
  /** The account's issuer now (a URL where the service knows its public URL, else its urn). */
  issuer: string;
  keys: PublishedJwk[];
}

export function toTokenRecord(t: StoredToken): TokenRecord {
  return { id: t.id, name: t.name, type: t.type, createdAt: t.createdAt, activatesAt: t.activatesAt, deletedAt: t.deletedAt, lastUsedAt: t.lastUsedAt, masked: t.masked };
}

const newId = async (prefix: string) => `${prefix}_${(await secrets()).randomBase62(16)}`;

/** Sealing associated data: a sealed value opens only as the value of the token (or key) it was sealed for. */
export const valueAad = (accountId: string, tokenId: string) => `${accountId}:${tokenId}`;
export const signingKeyAad = (accountId: string) => `${accountId}:signing-key`;

interface ChangeState {
  tx: AccountWriter;
  sealer: Sealer;
  now: Date;
  events: AuditEntry[];
  /** The service's public URL, for the issuer of API tokens (null: their urn). */
  publicUrl: string | null;
}

/** OneLink is premium: a type whose feature the account lacks is refused (exit 7 / 403) before anything else. */
async function assertTypeAllowed(s: ChangeState, type: TokenType): Promise<void> {
  if (FEATURE_OF_TYPE[type] === null) return; // no read for the types every account has
  const account = await s.tx.account();
  assertMayCreateType(account.features, type, account);
}

/** Mints, seals and inserts a token after the core's plan accepted it; `delivered` as in auditEntries.tokenCreated. */
async function addToken(s: ChangeState, input: { type: TokenType; name: string }, opts: { activeImmediately: boolean; delivered: boolean }): Promise<RevealedToken> {
  await assertTypeAllowed(s, input.type);
  const { accountIssuer, algOfJwk, maskValue, mintApiToken, mintOpaqueToken } = await secrets();
  const tokens = await s.tx.tokens();
  const id = await newId('tok');
  // The rules first (limit, name): minting an API token needs the signing key, and a refused token costs nothing.
  planCreateToken(tokens, { id, type: input.type, name: input.name, masked: 'x', activeImmediately: opts.activeImmediately }, s.now);
  const activatesAt = opts.activeImmediately ? s.now : new Date(s.now.getTime() + POLICY.pendingMs);
  let value: string;
  if (input.type === 'api') {
    const key = await s.tx.signingKey();
    const pem = s.sealer.open(key.privateKey, signingKeyAad(s.tx.accountId));
    value = await mintApiToken(
      { kid: key.kid, alg: algOfJwk(key.publicJwk), privatePkcs8Pem: pem },
      { accountId: s.tx.accountId, tokenId: id, issuedAt: s.now, notBefore: activatesAt, issuer: accountIssuer(s.tx.accountId, s.publicUrl) },
    );
  } else {
    value = mintOpaqueToken(input.type);
  }
  const record = planCreateToken(tokens, { id, type: input.type, name: input.name, masked: maskValue(input.type, value), activeImmediately: opts.activeImmediately }, s.now);
  const stored: StoredToken = { ...record, fingerprint: s.sealer.fingerprint(value), secret: s.sealer.seal(value, valueAad(s.tx.accountId, id)) };
  await s.tx.insertToken(stored);
  s.events.push(auditEntries.tokenCreated(stored, opts.delivered));
  return { token: record, value };
}

async function deleteStored(s: ChangeState, stored: StoredToken): Promise<StoredToken> {
  const deleted: StoredToken = { ...stored, deletedAt: planDeleteToken(stored, s.now).deletedAt, secret: null };
  await s.tx.updateToken(deleted);
  s.events.push(auditEntries.tokenDeleted(deleted));
  return deleted;
}

export interface NewAccountInput {
  name: string;
  defaultToken: boolean;
  /** Its premium features; absent: every feature (a local store is its owner's). The service passes its own list. */
  features?: readonly Feature[];
  /** The algorithm of its signing key (default EdDSA; a local store keeps EdDSA). */
  signingAlg?: SigningAlg;
}

/**
 * Creates an account, its signing key and (by default) its `default` API token, usable at once (the spec: "By
 * default, an API token is generated"), and whatever `more` adds (the service's first admin), as ONE change.
 */
export async function createAccount<W extends AccountWriter, T = undefined>(
  storage: TokenStorage<W>,
  input: NewAccountInput,
  ctx: { clock: Clock; actor: string; publicUrl?: string | null },
  more?: (tx: W, account: StoredAccount) => Promise<T>,
): Promise<{ account: StoredAccount; tokens: TokenRecord[]; extra: T }> {
  const name = normalizeTokenName(input.name);
  const { generateSigningKey } = await secrets();
  const now = ctx.clock.now();
  const account: StoredAccount = { id: await newId('acc'), name, createdAt: now.toISOString(), ...(input.features ? { features: [...input.features] } : {}) };
  const signing = generateSigningKey(input.signingAlg ?? 'EdDSA');
  return storage.createAccount(
    {
      account,
      signingKey: (sealer) => ({ kid: signing.kid, publicJwk: signing.publicJwk, privateKey: sealer.seal(signing.privatePkcs8Pem, signingKeyAad(account.id)), createdAt: account.createdAt }),
    },
    { actor: ctx.actor, at: now.toISOString() },
    async (tx, sealer) => {
      const s: ChangeState = { tx, sealer, now, events: [auditEntries.accountInit(account)], publicUrl: ctx.publicUrl ?? null };
      const tokens = input.defaultToken ? [(await addToken(s, { type: 'api', name: 'default' }, { activeImmediately: true, delivered: false })).token] : [];
      const extra = (more ? await more(tx, account) : undefined) as T;
      await tx.audit(s.events);
      return { account, tokens, extra };
    },
  );
}

export interface TokenServiceOptions<W extends AccountWriter = AccountWriter> {
  storage: TokenStorage<W>;
  accountId: string;
  /** Who acts, for the audit trail ("os:alice", "admin:ops (prn_...)"). */
  actor: string;
  clock: Clock;
  /** The token service's public URL: API tokens it mints name their account's issuer URL (absent: its urn). */
  publicUrl?: string | null;
}

/** The operations on one account's tokens, for one actor. */
export class TokenService<W extends AccountWriter = AccountWriter> {
  constructor(private readonly o: TokenServiceOptions<W>) {}

  get accountId(): string {
    return this.o.accountId;
  }

  private async change<T>(fn: (s: ChangeState) => Promise<T>): Promise<T> {
    const sealer = await this.o.storage.sealer();
    const now = this.o.clock.now();
    const ctx: ChangeContext = { actor: this.o.actor, at: now.toISOString() };
    return this.o.storage.write(this.o.accountId, ctx, async (tx) => {
      const s: ChangeState = { tx, sealer, now, events: [], publicUrl: this.o.publicUrl ?? null };
      const result = await fn(s);
      await tx.audit(s.events);
      return result;
    });
  }

  private readTokens(): Promise<StoredToken[]> {
    return this.o.storage.read(this.o.accountId, (tx) => tx.tokens());
  }

  async account(): Promise<StoredAccount> {
    return this.o.storage.read(this.o.accountId, (tx) => tx.account());
  }

  /** Every token, deleted ones included; callers filter and derive statuses with the core. */
  async list(): Promise<TokenRecord[]> {
    return (await this.readTokens()).map(toTokenRecord);
  }

  async find(ref: string): Promise<TokenRecord> {
    return resolveToken(await this.list(), ref);
  }

  create(input: { type: TokenType; name: string }): Promise<RevealedToken> {
    return this.change((s) => addToken(s, input, { activeImmediately: false, delivered: true }));
  }

  /** The value of a live token; a pending one only with allowPending. Recorded first: no record, no value. */
  reveal(ref: string, options: { allowPending?: boolean } = {}): Promise<RevealedToken> {
    return this.change(async (s) => {
      const tokens = await s.tx.tokens();
      const token = resolveToken(tokens, ref);
      assertRetrievable(token, s.now, options.allowPending);
      const stored = tokens.find((t) => t.id === token.id)!;
      if (stored.secret === null) throw new TokenNotFoundError(`token ${stored.id} was deleted; its value is gone`);
      const value = s.sealer.open(stored.secret, valueAad(this.o.accountId, stored.id));
      if (s.sealer.fingerprint(value) !== stored.fingerprint) {
        throw new StoreDataError(`the value of token ${stored.id} does not match its fingerprint (tampered store); nothing was printed`);
      }
      s.events.push(auditEntries.tokenRevealed(stored));
      return { token, value };
    });
  }

  rename(ref: string, newName: string): Promise<TokenRecord> {
    return this.change(async (s) => {
      const tokens = await s.tx.tokens();
      const token = resolveToken(tokens, ref);
      const renamed = planRenameToken(tokens, token, newName);
      await s.tx.updateToken({ ...tokens.find((t) => t.id === token.id)!, name: renamed.name });
      s.events.push(auditEntries.tokenRenamed(renamed, token.name));
      return renamed;
    });
  }

  /**
   * `confirmation` must be the spec's phrase: checked here too, whatever the caller checked. Idempotent by id: a token
   * already deleted, named by its id, is answered as it is (one deletion, one audit event, the same answer).
   */
  delete(ref: string, confirmation: string): Promise<TokenRecord> {
    if (!isDeletePhrase(confirmation)) return Promise.reject(new UsageError(`deleting needs the exact confirmation phrase "${POLICY.deletePhrase}"`));
    return this.change(async (s) => {
      const tokens = await s.tx.tokens();
      const again = alreadyDeleted(tokens, ref);
      if (again) return toTokenRecord(tokens.find((t) => t.id === again.id)!);
      const token = resolveToken(tokens, ref);
      return toTokenRecord(await deleteStored(s, tokens.find((t) => t.id === token.id)!));
    });
  }

  /** Which token of this account has exactly this value (deleted ones included)? Found by keyed fingerprint. */
  async identify(value: string): Promise<TokenRecord | null> {
    const fingerprint = (await this.o.storage.sealer()).fingerprint(value);
    const found = (await this.readTokens()).find((t) => t.fingerprint === fingerprint);
    return found ? toTokenRecord(found) : null;
  }

  // ---- the rotation journal: each step one change, the rules in core/rotation.ts ----------------------------

  rotations(): Promise<RotationRecord[]> {
    return this.o.storage.read(this.o.accountId, (tx) => tx.rotations());
  }

  private async rotation(s: ChangeState, id: string): Promise<RotationRecord> {
    const r = (await s.tx.rotations()).find((x) => x.id === id);
    if (!r) throw new TokenNotFoundError(`no rotation ${id} in this account`);
    return r;
  }

  /** Checks a slot is free, creates the replacement and records the journal entry, as one change. */
  startRotation(ref: string, input: { newName?: string } = {}): Promise<RotationStart> {
    return this.change(async (s) => {
      const tokens = await s.tx.tokens();
      const old = resolveToken(tokens, ref);
      const open = findUnfinishedRotation(await s.tx.rotations(), old.id);
      if (open) throw new RotationError('conflict', `token '${old.name}' already has an unfinished rotation (${open.id}); continue it with: tokenctl rotate ${old.name} --resume`);
      // The replacement is a new token of the old one's type: a OneLink token is not replaced without the feature.
      await assertTypeAllowed(s, old.type);
      assertRotationSlot(tokens, old, s.now);
      const name = input.newName ?? deriveReplacementName(tokens, old.name, s.now);
      const replacement = await addToken(s, { type: old.type, name }, { activeImmediately: false, delivered: false });
      const rotation = planRotation(await newId('rot'), old, replacement.token.id, s.now);
      await s.tx.insertRotation(rotation);
      s.events.push(auditEntries.rotationStarted(old, rotation));
      return { rotation, old, replacement };
    });
  }

  markRotationDelivered(rotationId: string, delivery: 'stdout' | 'exec'): Promise<RotationRecord> {
    return this.change(async (s) => {
      const r = await this.rotation(s, rotationId);
      const next = planDelivery(r, delivery, s.now);
      if (next !== r) await s.tx.updateRotation(next);
      const replacement = (await s.tx.tokens()).find((t) => t.id === r.newTokenId) ?? null;
      s.events.push(auditEntries.rotationDelivered(replacement, r, delivery));
      return next;
    });
  }

  /** Deletes the old token once the replacement is active, and closes the journal entry, as one change. */
  completeRotation(rotationId: string, confirmation: string): Promise<{ rotation: RotationRecord; old: TokenRecord }> {
    if (!isDeletePhrase(confirmation)) {
      return Promise.reject(new UsageError(`completing a rotation deletes the old token and needs the exact phrase "${POLICY.deletePhrase}"`));
    }
    return this.change(async (s) => {
      const r = await this.rotation(s, rotationId);
      const tokens = await s.tx.tokens();
      const next = planCompletion(r, tokens.find((t) => t.id === r.newTokenId), s.now);
      let old = tokens.find((t) => t.id === r.oldTokenId);
      if (!old) throw new StoreDataError(`rotation ${r.id} refers to token ${r.oldTokenId}, which does not exist; restore the store from a backup`);
      if (old.deletedAt === null) old = await deleteStored(s, old);
      await s.tx.updateRotation(next);
      s.events.push(auditEntries.rotationCompleted(old, next));
      return { rotation: next, old: toTokenRecord(old) };
    });
  }

  /** Gives up a rotation (both tokens stay as they are); a completed or abandoned one is a conflict. */
  abandonRotation(rotationId: string, reason: string): Promise<RotationRecord> {
    return this.change(async (s) => {
      const r = await this.rotation(s, rotationId);
      const next = planAbandon(r, reason);
      await s.tx.updateRotation(next);
      const old = (await s.tx.tokens()).find((t) => t.id === r.oldTokenId) ?? null;
      s.events.push(auditEntries.rotationAbandoned(old, next, reason));
      return next;
    });
  }

  // ---- the audit trail and keys -----------------------------------------------------------------------------

  auditEvents(): Promise<AuditEvent[]> {
    return this.o.storage.auditEvents(this.o.accountId);
  }

  verifyAuditTrail(): Promise<VerifyResult> {
    return this.o.storage.verifyAudit(this.o.accountId);
  }

  async accountKeys(): Promise<AccountKeys> {
    const keys = await this.o.storage.read(this.o.accountId, (tx) => tx.signingKeys());
    const { accountIssuer, publishedJwk } = await secrets();
    return { accountId: this.o.accountId, issuer: accountIssuer(this.o.accountId, this.o.publicUrl), keys: keys.map((key) => publishedJwk(key.publicJwk, key.kid)) };
  }
}
