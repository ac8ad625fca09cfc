import path from 'node:path';
import type { Clock } from '../../core/clock.js';
import { AlreadyInitialisedError, StoreDataError, StoreNotInitialisedError, UsageError } from '../../core/errors.js';
import { normalizeTokenName } from '../../core/names.js';
import {
  assertRetrievable,
  isDeletePhrase,
  planCreateToken,
  planDeleteToken,
  planRenameToken,
  resolveToken,
  POLICY,
  type TokenType,
} from '../../core/tokens.js';
import { createMasterKey, loadMasterKey, type MasterKeyContext } from '../../secrets/master-key.js';
import { maskValue, mintOpaqueToken, randomBase62 } from '../../secrets/opaque.js';
import { createSealer, keyCheckMatches, type Sealer } from '../../secrets/seal.js';
import { generateSigningKey, mintApiToken } from '../../secrets/jwt.js';
import type { CreateInput, InitInput, InitResult, RevealedToken, TokenBackend } from '../token-backend.js';
import { checkPrivateDir, ensurePrivateDir, readPrivateFile, writeFileAtomic } from './fsutil.js';
import { acquireLock, type LockOptions } from './lock.js';
import { parseStore, serializeStore, toRecord, STORE_FORMAT, STORE_VERSION, type StoreDocument, type StoredToken } from './store.js';

export interface FileBackendOptions {
  /** The account's directory (one per profile): store.json, its lock, and the key file when one is used. */
  dir: string;
  clock: Clock;
  env: Record<string, string | undefined>;
  warn(message: string): void;
  lock?: LockOptions;
  openKeychain?: MasterKeyContext['openKeychain'];
}

export const newTokenId = () => `tok_${randomBase62(16)}`;
const newAccountId = () => `acc_${randomBase62(16)}`;

/** The embedded default backend: an encrypted JSON document per account, changed atomically under a lock. */
export class FileBackend implements TokenBackend {
  readonly location: string;
  private readonly storePath: string;
  private readonly lockPath: string;
  private readonly keyFile: string;

  constructor(private readonly opts: FileBackendOptions) {
    this.location = opts.dir;
    this.storePath = path.join(opts.dir, 'store.json');
    this.lockPath = path.join(opts.dir, 'store.lock');
    this.keyFile = path.join(opts.dir, 'master.key');
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

  private async sealer(doc: StoreDocument): Promise<Sealer> {
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

  /** Read-modify-write under the lock; the change is written atomically or not at all. */
  private async transact<T>(change: (doc: StoreDocument) => Promise<T> | T): Promise<T> {
    await this.load(); // fail fast (not initialised, unsafe permissions) before waiting for the lock
    const lock = await acquireLock(this.lockPath, this.opts.lock);
    try {
      const doc = await this.load();
      const result = await change(doc);
      await lock.assertHeld();
      await writeFileAtomic(this.storePath, serializeStore(doc));
      return result;
    } finally {
      await lock.release();
    }
  }

  private async mint(doc: StoreDocument, sealer: Sealer, id: string, type: TokenType, activatesAt: Date): Promise<string> {
    if (type !== 'api') return mintOpaqueToken(type);
    const key = doc.account.signingKey;
    const pem = sealer.open(key.privateKey, `${doc.account.id}:signing-key`);
    return mintApiToken({ kid: key.kid, privatePkcs8Pem: pem }, { accountId: doc.account.id, tokenId: id, issuedAt: this.opts.clock.now(), notBefore: activatesAt });
  }

  private async addToken(doc: StoreDocument, sealer: Sealer, input: CreateInput, activeImmediately: boolean): Promise<RevealedToken> {
    const now = this.opts.clock.now();
    const id = newTokenId();
    // Validate (limit, name) before minting: minting an API token needs the signing key.
    planCreateToken(doc.tokens, { id, type: input.type, name: input.name, masked: 'x', activeImmediately }, now);
    const activatesAt = activeImmediately ? now : new Date(now.getTime() + POLICY.pendingMs);
    const value = await this.mint(doc, sealer, id, input.type, activatesAt);
    const record = planCreateToken(doc.tokens, { id, type: input.type, name: input.name, masked: maskValue(input.type, value), activeImmediately }, now);
    const stored: StoredToken = { ...record, fingerprint: sealer.fingerprint(value), secret: sealer.seal(value, `${doc.account.id}:${id}`) };
    doc.tokens.push(stored);
    return { token: toRecord(stored), value };
  }

  async init(input: InitInput): Promise<InitResult> {
    const accountName = normalizeTokenName(input.accountName);
    await ensurePrivateDir(this.opts.dir);
    if (await this.read()) throw new AlreadyInitialisedError(this.location);
    const lock = await acquireLock(this.lockPath, this.opts.lock);
    try {
      if (await this.read()) throw new AlreadyInitialisedError(this.location);
      const accountId = newAccountId();
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
      };
      const tokens = input.defaultToken ? [(await this.addToken(doc, sealer, { type: 'api', name: 'default' }, true)).token] : [];
      await lock.assertHeld();
      await writeFileAtomic(this.storePath, serializeStore(doc));
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
    // The key is fetched before taking the lock: a keychain may be slow, the lock must not be.
    const sealer = await this.sealer(await this.load());
    return this.transact((doc) => this.addToken(doc, sealer, input, false));
  }

  async reveal(ref: string, options: { allowPending?: boolean } = {}): Promise<RevealedToken> {
    const doc = await this.load();
    const token = resolveToken(doc.tokens, ref) as StoredToken;
    assertRetrievable(token, this.opts.clock.now(), options.allowPending);
    const sealer = await this.sealer(doc);
    // resolveToken only returns live tokens, and every live token has a sealed value (validated on load).
    const value = sealer.open(token.secret!, `${doc.account.id}:${token.id}`);
    if (sealer.fingerprint(value) !== token.fingerprint) {
      throw new StoreDataError(`the value of token ${token.id} does not match its fingerprint (tampered store); nothing was printed`);
    }
    return { token: toRecord(token), value };
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
      const renamed = planRenameToken(doc.tokens, token, newName);
      const stored = doc.tokens.find((t) => t.id === token.id)!;
      stored.name = renamed.name;
      return toRecord(stored);
    });
  }

  async delete(ref: string, confirmation: string) {
    if (!isDeletePhrase(confirmation)) throw new UsageError(`deleting needs the exact confirmation phrase "${POLICY.deletePhrase}"`);
    return this.transact((doc) => {
      const token = resolveToken(doc.tokens, ref);
      const stored = doc.tokens.find((t) => t.id === token.id)!;
      stored.deletedAt = planDeleteToken(token, this.opts.clock.now()).deletedAt;
      stored.secret = null;
      return toRecord(stored);
    });
  }
}
