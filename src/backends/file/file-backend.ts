import type { Clock } from '../../core/clock.js';
import { UsageError } from '../../core/errors.js';
import { resolveTokenForUsage, untrackedUsage, type TokenUsage } from '../../core/usage.js';
import type { AuditEvent } from '../../core/audit.js';
import type { MasterKeyContext } from '../../secrets/master-key.js';
import { JsonFileStorage } from '../../storage/json-file/json-file-storage.js';
import type { TokenRecord } from '../../core/tokens.js';
import type { LockOptions } from '../../storage/json-file/lock.js';
import { createAccount, TokenService } from '../../tokens/token-service.js';
import type { CreateInput, InitInput, InitResult, TokenBackend } from '../token-backend.js';

/** What this store knows of a token's use: the retrievals its own trail recorded (`get`, `exec`); calls it cannot see. */
const retrievalsOf = (events: readonly AuditEvent[], tokenId: string) => events.filter((e) => e.action === 'token.reveal' && e.token?.id === tokenId).map((e) => ({ at: e.at, actor: e.actor }));

const WEBHOOKS_NEED_THE_SERVICE =
  'webhooks need the token service: notifications are sent by `tokenctl serve`, which a local store does not run. Log in to a service (tokenctl login --server <url>) and manage them there';

export interface FileBackendOptions {
  /** The account's directory (one per profile): store.json, its lock, audit.log, and the key file if used. */
  dir: string;
  clock: Clock;
  env: Record<string, string | undefined>;
  warn(message: string): void;
  /** Who is acting, for the audit trail (e.g. "os:alice"); a function is asked only when something is recorded. */
  actor?: string | (() => string);
  lock?: LockOptions;
  openKeychain?: MasterKeyContext['openKeychain'];
}

/** The embedded default backend: the token use cases (src/tokens/) over the local JSON-file store. */
export class FileBackend implements TokenBackend {
  readonly location: string;
  readonly tracksUsage = false;
  private readonly storage: JsonFileStorage;
  private serviceMemo: Promise<TokenService> | undefined;

  /** The command's clock: a drill's TOKENCTL_NOW decides this store's statuses. */
  get clock(): Clock {
    return this.opts.clock;
  }

  constructor(private readonly opts: FileBackendOptions) {
    this.location = opts.dir;
    this.storage = new JsonFileStorage({ dir: opts.dir, env: opts.env, warn: opts.warn, lock: opts.lock, openKeychain: opts.openKeychain });
  }

  private actorMemo: string | undefined;

  private get actor(): string {
    const actor = this.opts.actor;
    return (this.actorMemo ??= (typeof actor === 'function' ? actor() : actor) ?? 'unknown');
  }

  /** The service of the directory's one account (found on first use; a failure is not kept). */
  private service(): Promise<TokenService> {
    const backend = this;
    const memo = (this.serviceMemo ??= this.storage.accountId().then(
      (accountId) =>
        new TokenService({
          storage: this.storage,
          accountId,
          clock: this.opts.clock,
          // Read when a change is recorded: listing never asks the OS who the user is.
          get actor() {
            return backend.actor;
          },
        }),
    ));
    memo.catch(() => {
      if (this.serviceMemo === memo) this.serviceMemo = undefined;
    });
    return memo;
  }

  async init(input: InitInput): Promise<InitResult> {
    const r = await createAccount(this.storage, { name: input.accountName, defaultToken: input.defaultToken }, { clock: this.opts.clock, actor: this.actor });
    return { account: r.account, tokens: r.tokens };
  }

  noticeBeforeChange = async () => this.storage.noticeBeforeChange(this.opts.clock.now().toISOString());
  /** The store's account features: absent (every feature) unless its owner wrote a list into the document. */
  features = async () => (await (await this.service()).account()).features;
  list = async () => (await this.service()).list();
  find = async (ref: string) => (await this.service()).find(ref);
  create = async (input: CreateInput) => (await this.service()).create(input);
  reveal = async (ref: string, options?: { allowPending?: boolean }) => (await this.service()).reveal(ref, options);
  rename = async (ref: string, newName: string) => (await this.service()).rename(ref, newName);
  delete = async (ref: string, confirmation: string) => (await this.service()).delete(ref, confirmation);
  identify = async (value: string) => (await this.service()).identify(value);
  rotations = async () => (await this.service()).rotations();
  startRotation = async (ref: string, input: { newName?: string }) => (await this.service()).startRotation(ref, input);
  markRotationDelivered = async (id: string, delivery: 'stdout' | 'exec') => (await this.service()).markRotationDelivered(id, delivery);
  completeRotation = async (id: string, confirmation: string) => (await this.service()).completeRotation(id, confirmation);
  abandonRotation = async (id: string, reason: string) => (await this.service()).abandonRotation(id, reason);
  auditEvents = async () => (await this.service()).auditEvents();
  verifyAuditTrail = async () => (await this.service()).verifyAuditTrail();
  accountKeys = async () => (await this.service()).accountKeys();

  usage = async (ref: string): Promise<{ token: TokenRecord; usage: TokenUsage }> => {
    const service = await this.service();
    const token = resolveTokenForUsage(await service.list(), ref);
    return { token, usage: untrackedUsage(token.id, retrievalsOf(await service.auditEvents(), token.id)) };
  };

  usageOverview = async (): Promise<TokenUsage[]> => {
    const service = await this.service();
    const events = await service.auditEvents();
    return (await service.list()).map((t) => untrackedUsage(t.id, retrievalsOf(events, t.id))).filter((u) => u.callers.length > 0);
  };

  webhooks = async () => Promise.reject(new UsageError(WEBHOOKS_NEED_THE_SERVICE));
  addWebhook = async () => Promise.reject(new UsageError(WEBHOOKS_NEED_THE_SERVICE));
  removeWebhook = async () => Promise.reject(new UsageError(WEBHOOKS_NEED_THE_SERVICE));
  testWebhook = async () => Promise.reject(new UsageError(WEBHOOKS_NEED_THE_SERVICE));
  webhookAttempts = async () => Promise.reject(new UsageError(WEBHOOKS_NEED_THE_SERVICE));
}
