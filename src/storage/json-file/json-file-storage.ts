import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { AuditEntry, AuditEvent } from '../../core/audit.js';
import type { VerifyResult } from '../../core/audit-chain.js';
import { AlreadyInitialisedError, StoreDataError, StoreNotInitialisedError } from '../../core/errors.js';
import type { RotationRecord } from '../../core/rotation.js';
import { checkPrivateDir, ensurePrivateDir, readPrivateFile, removeLeftoverTemps, writeFileAtomic } from '../../fs/private-files.js';
import type { MasterKeyContext } from '../../secrets/master-key.js';
import type { Sealer } from '../../secrets/seal.js';
import type { AccountWriter, ChangeContext, NewAccount, StoredToken, TokenStorage } from '../port.js';
import { appendAuditEvents, readAuditEvents, verifyAuditLog } from './audit-log.js';
import { parseStore, serializeStore, STORE_FORMAT, STORE_VERSION, type StoreDocument } from './document.js';
import { acquireLock, type LockOptions } from './lock.js';

export interface JsonFileStorageOptions {
  /** The account's directory (one per profile): store.json, its lock, audit.log, and the key file if used. */
  dir: string;
  env: Record<string, string | undefined>;
  warn(message: string): void;
  lock?: LockOptions;
  openKeychain?: MasterKeyContext['openKeychain'];
}

let secretsModule: Promise<typeof import('../../secrets/index.js')> | undefined;
const secrets = () => (secretsModule ??= import('../../secrets/index.js'));

const copy = <T extends object>(o: T): T => ({ ...o });

/**
 * The local store: one encrypted JSON document per account (one account per directory), changed atomically
 * under a cross-process lock. A change is appended to the chained audit trail (fsynced) before the document is
 * written, so nothing changes unrecorded; a crash between the two leaves authentic events after the document's
 * head, which the next change continues from. The on-disk format is the one tokenctl has always written.
 */
export class JsonFileStorage implements TokenStorage {
  readonly location: string;
  private readonly storePath: string;
  private readonly lockPath: string;
  private readonly keyFile: string;
  private readonly logPath: string;

  constructor(private readonly o: JsonFileStorageOptions) {
    this.location = o.dir;
    this.storePath = path.join(o.dir, 'store.json');
    this.lockPath = path.join(o.dir, 'store.lock');
    this.keyFile = path.join(o.dir, 'master.key');
    this.logPath = path.join(o.dir, 'audit.log');
  }

  private keyContext(accountId: string): MasterKeyContext {
    return { env: this.o.env, keyFile: this.keyFile, accountId, warn: this.o.warn, openKeychain: this.o.openKeychain };
  }

  private async readDocument(): Promise<StoreDocument | null> {
    if (!(await checkPrivateDir(this.o.dir))) return null;
    const text = await readPrivateFile(this.storePath, 'token store');
    return text === null ? null : parseStore(text, this.storePath);
  }

  /**
   * The document `accountId()` read, kept for the one read that follows it: finding the account and then reading its
   * tokens is one look at the store (a command reads and validates the file once), not two. Taken by the next
   * load of any kind, and dropped at the end of this turn of the event loop, so every later operation (and any that
   * waits for I/O first) reads the file again.
   */
  private primed: StoreDocument | undefined;

  private async load(accountId?: string): Promise<StoreDocument> {
    const primed = this.primed;
    this.primed = undefined;
    const doc = primed ?? (await this.readDocument());
    // Another id: the store was re-created under this command's feet; it is not the account it was asked for.
    if (!doc || (accountId !== undefined && doc.account.id !== accountId)) throw new StoreNotInitialisedError(this.location);
    return doc;
  }

  /** The one account of this directory. */
  async accountId(): Promise<string> {
    const doc = await this.load();
    this.primed = doc;
    setImmediate(() => {
      if (this.primed === doc) this.primed = undefined;
    }).unref();
    return doc.account.id;
  }

  /**
   * The sealer of the store's current key, for this storage's life (one command): `scan` or `rotate` then read the
   * key (a keychain round trip, say) and derive its subkeys once, not once per value. Keyed by what identifies the
   * key, so a store re-created under another key is not opened with the old one; failures are not kept.
   */
  private sealerMemo: { id: string; sealer: Promise<Sealer> } | undefined;

  async sealer(): Promise<Sealer> {
    return this.sealerOf(await this.load());
  }

  private sealerOf(doc: StoreDocument): Promise<Sealer> {
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
        this.o.env.TOKENCTL_MASTER_KEY
          ? 'TOKENCTL_MASTER_KEY is not the key this store was encrypted with; set the right key, or unset it'
          : `the master key (${doc.keySource}) is not the key this store was encrypted with; restore the right key`,
      );
    }
    return sealer;
  }

  async read<T>(accountId: string, fn: (tx: AccountWriter) => Promise<T> | T): Promise<T> {
    // A read-only view: the writer's methods exist but what they change is never written.
    return fn(this.writer(await this.load(accountId), []));
  }

  async write<T>(accountId: string, change: ChangeContext, fn: (tx: AccountWriter) => Promise<T> | T): Promise<T> {
    // Fail fast (not initialised, unsafe permissions), and fetch the key before taking the lock: a keychain may be
    // slow, the lock must not be.
    const sealer = await this.sealerOf(await this.load(accountId));
    const lock = await acquireLock(this.lockPath, this.o.lock);
    try {
      await removeLeftoverTemps(this.storePath);
      const doc = await this.load(accountId);
      const entries: AuditEntry[] = [];
      const result = await fn(this.writer(doc, entries));
      await lock.assertHeld();
      this.warnDrillOnRealStore(doc, change);
      await this.commit(doc, sealer, entries, change);
      return result;
    } finally {
      await lock.release();
    }
  }

  async createAccount<T>(input: NewAccount, change: ChangeContext, fn: (tx: AccountWriter, sealer: Sealer) => Promise<T> | T): Promise<T> {
    await ensurePrivateDir(this.o.dir);
    if (await this.readDocument()) throw new AlreadyInitialisedError(this.location);
    const lock = await acquireLock(this.lockPath, this.o.lock);
    try {
      if (await this.readDocument()) throw new AlreadyInitialisedError(this.location);
      const { createMasterKey, createSealer } = await secrets();
      const { key, source } = await createMasterKey(this.keyContext(input.account.id));
      const sealer = createSealer(key);
      const signing = input.signingKey(sealer);
      // The local store is its owner's: its API tokens are checked by tokenctl itself, with EdDSA.
      if (signing.publicJwk.kty !== 'OKP') throw new Error('a local store keeps an Ed25519 signing key');
      const publicJwk = signing.publicJwk;
      const doc: StoreDocument = {
        format: STORE_FORMAT,
        version: STORE_VERSION,
        keySource: source,
        keyCheck: sealer.keyCheck,
        account: { ...input.account, signingKey: { kid: signing.kid, alg: 'EdDSA', publicJwk, privateKey: signing.privateKey } },
        tokens: [],
        rotations: [],
        auditHead: null,
        // A store made in a drill says so: TOKENCTL_NOW on any other store warns (its times would stay for good).
        ...(this.drillNow() ? { drill: true as const } : {}),
      };
      const entries: AuditEntry[] = [];
      const result = await fn(this.writer(doc, entries), sealer);
      await lock.assertHeld();
      // A trail left by an earlier account in this directory does not belong to this one: keep it aside.
      const aside = `${this.logPath}.orphaned-${Date.now()}`;
      if (await rename(this.logPath, aside).then(() => true, () => false)) this.o.warn(`an audit trail without a store was found and kept as ${aside}`);
      await this.commit(doc, sealer, entries, change);
      return result;
    } finally {
      await lock.release();
    }
  }

  private drillNow(): string | null {
    const v = this.o.env.TOKENCTL_NOW;
    return v === undefined || v.trim() === '' ? null : v.trim();
  }

  private drillWarned = false;

  /** The drill warning a change at `at` would give (see warnDrillOnRealStore), given before it is asked for. */
  async noticeBeforeChange(at: string): Promise<void> {
    if (!this.drillNow() || this.drillWarned) return;
    const doc = await this.readDocument();
    if (doc) this.warnDrillOnRealStore(doc, { at });
  }

  /** TOKENCTL_NOW writing into a store that was not created in a drill: say what it does, once per command. */
  private warnDrillOnRealStore(doc: StoreDocument, change: Pick<ChangeContext, 'at'>): void {
    const now = this.drillNow();
    if (!now || doc.drill === true || this.drillWarned) return;
    this.drillWarned = true;
    this.o.warn(
      `TOKENCTL_NOW=${now} is set, but the store in ${this.location} was not created in a drill: this change is recorded at ${change.at} for good, ` +
        'and back on the real clock such times look wrong (tokens pending for hours, or created in the future). Run drills in their own TOKENCTL_HOME',
    );
  }

  private async commit(doc: StoreDocument, sealer: Sealer, entries: readonly AuditEntry[], change: ChangeContext): Promise<void> {
    // The trail first: a change that cannot be recorded is not made.
    doc.auditHead = await appendAuditEvents(this.logPath, doc.auditHead, entries, { mac: (t) => sealer.mac(t), at: change.at, actor: change.actor });
    await writeFileAtomic(this.storePath, serializeStore(doc), 'token store');
  }

  /** The transaction's view of the document: reads return copies, writes change the document to be committed. */
  private writer(doc: StoreDocument, entries: AuditEntry[]): AccountWriter {
    const indexOf = <T extends { id: string }>(list: T[], id: string, what: string) => {
      const i = list.findIndex((x) => x.id === id);
      if (i < 0) throw new StoreDataError(`the store has no ${what} ${id}; restore it from a backup`);
      return i;
    };
    return {
      accountId: doc.account.id,
      // Features only when the document lists them (a hand edit, validated by parseStore): absent means every feature.
      account: async () => ({
        id: doc.account.id,
        name: doc.account.name,
        createdAt: doc.account.createdAt,
        ...(doc.account.features === undefined ? {} : { features: [...doc.account.features] }),
      }),
      tokens: async () => doc.tokens.map(copy),
      rotations: async () => doc.rotations.map(copy),
      signingKey: async () => {
        const k = doc.account.signingKey;
        return { kid: k.kid, publicJwk: k.publicJwk, privateKey: k.privateKey, createdAt: doc.account.createdAt };
      },
      signingKeys: async () => {
        const k = doc.account.signingKey;
        return [{ kid: k.kid, publicJwk: k.publicJwk, privateKey: k.privateKey, createdAt: doc.account.createdAt }];
      },
      insertToken: async (t: StoredToken) => void doc.tokens.push(copy(t)),
      updateToken: async (t: StoredToken) => void (doc.tokens[indexOf(doc.tokens, t.id, 'token')] = copy(t)),
      insertRotation: async (r: RotationRecord) => void doc.rotations.push(copy(r)),
      updateRotation: async (r: RotationRecord) => void (doc.rotations[indexOf(doc.rotations, r.id, 'rotation')] = copy(r)),
      audit: async (e) => void entries.push(...e),
    };
  }

  async auditEvents(accountId: string): Promise<AuditEvent[]> {
    await this.load(accountId);
    return readAuditEvents(this.logPath);
  }

  async verifyAudit(accountId: string): Promise<VerifyResult> {
    const doc = await this.load(accountId);
    const sealer = await this.sealerOf(doc);
    return verifyAuditLog(this.logPath, (t) => sealer.mac(t), doc.auditHead);
  }
}
