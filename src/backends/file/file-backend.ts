import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../../core/clock.js';
import { AlreadyInitialisedError, StoreDataError, StoreNotInitialisedError, TokenNotFoundError, UsageError } from '../../core/errors.js';
import { normalizeTokenName } from '../../core/names.js';
import {
  assertRetrievable,
  isDeletePhrase,
  planCreateToken,
  planDeleteToken,
  planRenameToken,
  resolveToken,
  POLICY,
  type TokenRecord,
  type TokenType,
} from '../../core/tokens.js';
import { tokenRef, type AuditEntry, type AuditEvent } from '../../core/audit.js';
import {
  assertCanComplete,
  assertRotationSlot,
  deriveReplacementName,
  findUnfinishedRotation,
  planRotation,
  RotationError,
  type RotationRecord,
} from '../../core/rotation.js';
import type { MasterKeyContext } from '../../secrets/master-key.js';
import type { Sealer } from '../../secrets/seal.js';
import type {
  AccountKeys,
  AuditVerification,
  CreateInput,
  InitInput,
  InitResult,
  RevealedToken,
  RotationStart,
  TokenBackend,
} from '../token-backend.js';
import { checkPrivateDir, ensurePrivateDir, readPrivateFile, removeLeftoverTemps, writeFileAtomic } from './fsutil.js';
import { acquireLock, type LockOptions } from './lock.js';
import { appendAuditEvents, readAuditEvents, verifyAuditLog } from './audit-log.js';
import { parseStore, serializeStore, toRecord, STORE_FORMAT, STORE_VERSION, type StoreDocument, type StoredToken } from './store.js';

export interface FileBackendOptions {
  /** The account's directory (one per profile): store.json, its lock, audit.log, and the key file if used. */
  dir: string;
  clock: Clock;
  env: Record<string, string | undefined>;
  warn(message: string): void;
  /** Who is acting, for the audit trail (e.g. "os:alice"). */
  actor?: string;
  lock?: LockOptions;
  openKeychain?: MasterKeyContext['openKeychain'];
}

/**
 * The cryptography (node:crypto, zlib, key sources) is loaded by the operations that need it, once: `list`
 * reads metadata only and should start fast.
 */
let secretsModule: Promise<typeof import('../../secrets/index.js')> | undefined;
const secrets = () => (secretsModule ??= import('../../secrets/index.js'));

interface Change<T> {
  result: T;
  events: AuditEntry[];
}

/**
 * The embedded default backend: an encrypted JSON document per account, changed atomically under a lock, with
 * every change and every retrieval recorded first in a chained audit trail (fail closed).
 */
export class FileBackend implements TokenBackend {
  readonly location: string;
  readonly tracksUsage = false;
  private readonly storePath: string;
  private readonly lockPath: string;
  private readonly keyFile: string;
  private readonly logPath: string;

  constructor(private readonly opts: FileBackendOptions) {
    this.location = opts.dir;
    this.storePath = path.join(opts.dir, 'store.json');
    this.lockPath = path.join(opts.dir, 'store.lock');
    this.keyFile = path.join(opts.dir, 'master.key');
    this.logPath = path.join(opts.dir, 'audit.log');
  }

  private keyContext(accountId: string): MasterKeyContext {
    return { env: this.opts.env, keyFile: this.keyFile, accountId, warn: this.opts.warn, openKeychain: this.opts.openKeychain };
  }

  private async read(): Promise<StoreDocument | null> {
    if (!(await checkPrivateDir(this.opts.dir))) return null;
    const text = await readPrivateFile(this.storePath, 'token store');
    return text === null ? null : parseStore(text, this.storePath);
  }

  private async load(): Promise<StoreDocument> {
    const doc = await this.read();
    if (!doc) throw new StoreNotInitialisedError(this.location);
    return doc;
  }

  /**
   * The sealer of the store's current key, for this backend's life (one command): `scan` or `rotate` then read the
   * key (a keychain round trip, say) and derive its subkeys once, not once per value. Keyed by what identifies
   * the key, so a store re-created under another key is not opened with the old one; failures are not kept.
   */
  private sealerMemo: { id: string; sealer: Promise<Sealer> } | undefined;

  private sealer(doc: StoreDocument): Promise<Sealer> {
    const id = `${doc.account.id}\0${doc.keySource}\0${doc.keyCheck}`;
    if (this.sealerMemo?.id === id) return this.sealerMemo.sealer;
    const sealer = this.openSealer(doc);
    this.sealerMemo = { id, sealer };
    sealer.catch(() => {
      if (this.sealerMemo?.sealer === sealer) this.sealerMemo = undefined;
    });
    return sealer;
  }

  private async openSealer(doc: StoreDocument): Promise<Sealer> {
    const { createSealer, keyCheckMatches, loadMasterKey } = await secrets();
    const sealer = createSealer(await loadMasterKey(this.keyContext(doc.account.id), doc.keySource));
    if (!keyCheckMatches(sealer, doc.keyCheck)) {
      throw new StoreDataError(
        this.opts.env.TOKENCTL_MASTER_KEY
          ? 'TOKENCTL_MASTER_KEY is not the key this store was encrypted with; set the right key, or unset it'
          : `the master key (${doc.keySource}) is not the key this store was encrypted with; restore the right key`,
      );
    }
    return sealer;
  }

  private async commit(doc: StoreDocument, sealer: Sealer, events: AuditEntry[]): Promise<void> {
    // The trail first: a change that cannot be recorded is not made.
    doc.auditHead = await appendAuditEvents(this.logPath, doc.auditHead, events, {
      mac: (t) => sealer.mac(t),
      at: this.opts.clock.now().toISOString(),
      actor: this.opts.actor ?? 'unknown',
    });
    await writeFileAtomic(this.storePath, serializeStore(doc));
  }

  /** Read-modify-write under the lock; recorded in the trail, then written atomically, or not at all. */
  private async transact<T>(change: (doc: StoreDocument, sealer: Sealer) => Promise<Change<T>> | Change<T>): Promise<T> {
    // Fail fast (not initialised, unsafe permissions), and fetch the key before taking the lock: a keychain may
    // be slow, the lock must not be.
    const sealer = await this.sealer(await this.load());
    const lock = await acquireLock(this.lockPath, this.opts.lock);
    try {
      await removeLeftoverTemps(this.storePath);
      const doc = await this.load();
      const { result, events } = await change(doc, sealer);
      await lock.assertHeld();
      await this.commit(doc, sealer, events);
      return result;
    } finally {
      await lock.release();
    }
  }

  private async mint(doc: StoreDocument, sealer: Sealer, id: string, type: TokenType, activatesAt: Date): Promise<string> {
    const { mintOpaqueToken, mintApiToken } = await secrets();
    if (type !== 'api') return mintOpaqueToken(type);
    const key = doc.account.signingKey;
    const pem = sealer.open(key.privateKey, `${doc.account.id}:signing-key`);
    return mintApiToken({ kid: key.kid, privatePkcs8Pem: pem }, { accountId: doc.account.id, tokenId: id, issuedAt: this.opts.clock.now(), notBefore: activatesAt });
  }

  /** `delivered`: whether the caller hands the value out now (create prints it; init and rotations do not). */
  private async addToken(doc: StoreDocument, sealer: Sealer, input: CreateInput, activeImmediately: boolean, delivered: boolean): Promise<Change<RevealedToken>> {
    const { maskValue, randomBase62 } = await secrets();
    const now = this.opts.clock.now();
    const id = `tok_${randomBase62(16)}`;
    // Validate (limit, name) before minting: minting an API token needs the signing key.
    planCreateToken(doc.tokens, { id, type: input.type, name: input.name, masked: 'x', activeImmediately }, now);
    const activatesAt = activeImmediately ? now : new Date(now.getTime() + POLICY.pendingMs);
    const value = await this.mint(doc, sealer, id, input.type, activatesAt);
    const record = planCreateToken(doc.tokens, { id, type: input.type, name: input.name, masked: maskValue(input.type, value), activeImmediately }, now);
    const stored: StoredToken = { ...record, fingerprint: sealer.fingerprint(value), secret: sealer.seal(value, `${doc.account.id}:${id}`) };
    doc.tokens.push(stored);
    return { result: { token: toRecord(stored), value }, events: [{ action: 'token.create', token: tokenRef(stored), fingerprint: stored.fingerprint, detail: { delivered: delivered ? 'yes' : 'no' } }] };
  }

  private openValue(doc: StoreDocument, sealer: Sealer, token: StoredToken): string {
    if (token.secret === null) throw new TokenNotFoundError(`token ${token.id} was deleted; its value is gone`);
    const value = sealer.open(token.secret, `${doc.account.id}:${token.id}`);
    if (sealer.fingerprint(value) !== token.fingerprint) {
      throw new StoreDataError(`the value of token ${token.id} does not match its fingerprint (tampered store); nothing was printed`);
    }
    return value;
  }

  private stored(doc: StoreDocument, id: string): StoredToken {
    const t = doc.tokens.find((x) => x.id === id);
    if (!t) throw new StoreDataError(`the store refers to token ${id}, which it does not contain; restore it from a backup`);
    return t;
  }

  async init(input: InitInput): Promise<InitResult> {
    const accountName = normalizeTokenName(input.accountName);
    await ensurePrivateDir(this.opts.dir);
    if (await this.read()) throw new AlreadyInitialisedError(this.location);
    const lock = await acquireLock(this.lockPath, this.opts.lock);
    try {
      if (await this.read()) throw new AlreadyInitialisedError(this.location);
      const { createMasterKey, createSealer, generateSigningKey, randomBase62 } = await secrets();
      const accountId = `acc_${randomBase62(16)}`;
      const { key, source } = await createMasterKey(this.keyContext(accountId));
      const sealer = createSealer(key);
      const signing = generateSigningKey();
      const doc: StoreDocument = {
        format: STORE_FORMAT,
        version: STORE_VERSION,
        keySource: source,
        keyCheck: sealer.keyCheck,
        account: {
          id: accountId,
          name: accountName,
          createdAt: this.opts.clock.now().toISOString(),
          signingKey: {
            kid: signing.kid,
            alg: 'EdDSA',
            publicJwk: signing.publicJwk,
            privateKey: sealer.seal(signing.privatePkcs8Pem, `${accountId}:signing-key`),
          },
        },
        tokens: [],
        rotations: [],
        auditHead: null,
      };
      const events: AuditEntry[] = [{ action: 'account.init', token: null, fingerprint: null, detail: { account: accountId, name: accountName } }];
      const tokens: TokenRecord[] = [];
      if (input.defaultToken) {
        const created = await this.addToken(doc, sealer, { type: 'api', name: 'default' }, true, false);
        tokens.push(created.result.token);
        events.push(...created.events);
      }
      await lock.assertHeld();
      // A trail left by an earlier account in this directory does not belong to this one: keep it aside.
      const aside = `${this.logPath}.orphaned-${Date.now()}`;
      const moved = await rename(this.logPath, aside).then(() => true, () => false);
      if (moved) this.opts.warn(`an audit trail without a store was found and kept as ${aside}`);
      await this.commit(doc, sealer, events);
      return { account: { id: accountId, name: accountName, createdAt: doc.account.createdAt }, tokens };
    } finally {
      await lock.release();
    }
  }

  async list() {
    return (await this.load()).tokens.map(toRecord);
  }

  async find(ref: string) {
    return resolveToken((await this.load()).tokens, ref);
  }

  async create(input: CreateInput): Promise<RevealedToken> {
    return this.transact((doc, sealer) => this.addToken(doc, sealer, input, false, true));
  }

  async reveal(ref: string, options: { allowPending?: boolean } = {}): Promise<RevealedToken> {
    return this.transact((doc, sealer) => {
      const token = resolveToken(doc.tokens, ref);
      assertRetrievable(token, this.opts.clock.now(), options.allowPending);
      const stored = this.stored(doc, token.id);
      const value = this.openValue(doc, sealer, stored);
      return { result: { token: toRecord(stored), value }, events: [{ action: 'token.reveal', token: tokenRef(stored), fingerprint: stored.fingerprint, detail: null }] };
    });
  }

  async identify(value: string) {
    const doc = await this.load();
    const sealer = await this.sealer(doc);
    const fp = sealer.fingerprint(value);
    const found = doc.tokens.find((t) => t.fingerprint === fp);
    return found ? toRecord(found) : null;
  }

  async rename(ref: string, newName: string) {
    return this.transact((doc) => {
      const token = resolveToken(doc.tokens, ref);
      const from = token.name;
      const renamed = planRenameToken(doc.tokens, token, newName);
      const stored = this.stored(doc, token.id);
      stored.name = renamed.name;
      return { result: toRecord(stored), events: [{ action: 'token.rename', token: tokenRef(stored), fingerprint: null, detail: { from, to: renamed.name } }] };
    });
  }

  private deleteStored(stored: StoredToken): AuditEntry {
    stored.deletedAt = planDeleteToken(stored, this.opts.clock.now()).deletedAt;
    stored.secret = null;
    return { action: 'token.delete', token: tokenRef(stored), fingerprint: stored.fingerprint, detail: null };
  }

  async delete(ref: string, confirmation: string) {
    if (!isDeletePhrase(confirmation)) throw new UsageError(`deleting needs the exact confirmation phrase "${POLICY.deletePhrase}"`);
    return this.transact((doc) => {
      const token = resolveToken(doc.tokens, ref);
      const stored = this.stored(doc, token.id);
      const event = this.deleteStored(stored);
      return { result: toRecord(stored), events: [event] };
    });
  }

  // ---- rotation journal -------------------------------------------------------------------------------

  async rotations(): Promise<RotationRecord[]> {
    return (await this.load()).rotations;
  }

  async startRotation(ref: string, input: { newName?: string }): Promise<RotationStart> {
    return this.transact(async (doc, sealer) => {
      const now = this.opts.clock.now();
      const old = resolveToken(doc.tokens, ref);
      const open = findUnfinishedRotation(doc.rotations, old.id);
      if (open) throw new RotationError('conflict', `token '${old.name}' already has an unfinished rotation (${open.id}); continue it with: tokenctl rotate ${old.name} --resume`);
      assertRotationSlot(doc.tokens, old, now);
      const name = input.newName ?? deriveReplacementName(doc.tokens, old.name, now);
      const created = await this.addToken(doc, sealer, { type: old.type, name }, false, false);
      const rotation = planRotation(`rot_${(await secrets()).randomBase62(16)}`, old, created.result.token.id, now);
      doc.rotations.push(rotation);
      return {
        result: { rotation, old, replacement: created.result },
        events: [...created.events, { action: 'rotation.start', token: tokenRef(old), fingerprint: null, detail: { rotation: rotation.id, replacement: rotation.newTokenId } }],
      };
    });
  }

  async markRotationDelivered(rotationId: string, delivery: 'stdout' | 'exec'): Promise<RotationRecord> {
    return this.transact((doc) => {
      const r = this.rotation(doc, rotationId);
      if (r.state === 'started') {
        r.state = 'delivered';
        r.delivery = delivery;
        r.deliveredAt = this.opts.clock.now().toISOString();
      }
      const replacement = this.stored(doc, r.newTokenId);
      return { result: { ...r }, events: [{ action: 'rotation.deliver', token: tokenRef(replacement), fingerprint: replacement.fingerprint, detail: { rotation: r.id, via: delivery } }] };
    });
  }

  async completeRotation(rotationId: string, confirmation: string): Promise<{ rotation: RotationRecord; old: TokenRecord }> {
    if (!isDeletePhrase(confirmation)) throw new UsageError(`completing a rotation deletes the old token and needs the exact phrase "${POLICY.deletePhrase}"`);
    return this.transact((doc) => {
      const r = this.rotation(doc, rotationId);
      const replacement = doc.tokens.find((t) => t.id === r.newTokenId);
      assertCanComplete(r, replacement, this.opts.clock.now());
      const old = this.stored(doc, r.oldTokenId);
      const events: AuditEntry[] = old.deletedAt === null ? [this.deleteStored(old)] : [];
      r.state = 'completed';
      r.completedAt = this.opts.clock.now().toISOString();
      events.push({ action: 'rotation.complete', token: tokenRef(old), fingerprint: null, detail: { rotation: r.id, replacement: r.newTokenId } });
      return { result: { rotation: { ...r }, old: toRecord(old) }, events };
    });
  }

  async abandonRotation(rotationId: string, reason: string): Promise<RotationRecord> {
    return this.transact((doc) => {
      const r = this.rotation(doc, rotationId);
      r.state = 'abandoned';
      r.note = reason;
      return { result: { ...r }, events: [{ action: 'rotation.abandon', token: tokenRef(this.stored(doc, r.oldTokenId)), fingerprint: null, detail: { rotation: r.id, reason } }] };
    });
  }

  private rotation(doc: StoreDocument, id: string): RotationRecord {
    const r = doc.rotations.find((x) => x.id === id);
    if (!r) throw new TokenNotFoundError(`no rotation ${id} in this account`);
    return r;
  }

  // ---- audit trail and verification ---------------------------------------------------------------------

  async auditEvents(): Promise<AuditEvent[]> {
    await this.load();
    return readAuditEvents(this.logPath);
  }

  async verifyAuditTrail(): Promise<AuditVerification> {
    const doc = await this.load();
    const sealer = await this.sealer(doc);
    return verifyAuditLog(this.logPath, (t) => sealer.mac(t), doc.auditHead);
  }

  async accountKeys(): Promise<AccountKeys> {
    const doc = await this.load();
    const { issuerFor } = await secrets();
    const k = doc.account.signingKey;
    return { accountId: doc.account.id, issuer: issuerFor(doc.account.id), keys: [{ ...k.publicJwk, kid: k.kid, alg: 'EdDSA', use: 'sig' }] };
  }
}
