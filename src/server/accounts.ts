import type { Clock } from '../core/clock.js';
import type { StoredAccount, TokenStorage } from '../storage/port.js';
import type { ServiceAccountReader, ServiceAccountWriter, ServiceStorage } from '../storage/service-port.js';
import { actorOf, type Principal } from '../tokens/principals.js';
import { TokenService } from '../tokens/token-service.js';
import type { Outbox } from './notify/outbox.js';

/** What keeps the service's memory current with its own writes (memory/token-index.ts). */
export interface WriteFollower {
  /** Reads an account into memory again; resolves once it is there. */
  refreshAccount(accountId: string): Promise<void>;
}

/**
 * The token use cases on a principal's account, as the service's doors (the API, the Tokens page) run them: written
 * once in src/tokens/, over the service's storage. Every committed write is read into the service's memory before it
 * is answered, so introspection on this process (and this replica) never answers from older data than it wrote. A
 * change's notifications (token.created, token.deleted, rotation.completed) are enqueued in its transaction.
 */
export class Accounts {
  private readonly storage: TokenStorage<ServiceAccountWriter, ServiceAccountReader>;

  constructor(
    storage: ServiceStorage,
    private readonly memory: WriteFollower,
    private readonly clock: Clock,
    /** The service's public URL: API tokens minted here name their account's issuer URL (null: its urn). */
    private readonly publicUrl: string | null = null,
    /** Where a change's notifications are enqueued, in its transaction (none: no notifications). */
    outbox: Outbox | null = null,
  ) {
    const follow = (accountId: string) => memory.refreshAccount(accountId).catch(() => undefined); // committed: memory catches up by notification or resync
    this.storage = {
      location: storage.location,
      sealer: () => storage.sealer(),
      read: (accountId, fn) => storage.read(accountId, fn),
      write: async (accountId, change, fn) => {
        const result = await storage.write(accountId, change, (tx) => fn(outbox ? outbox.withNotifications(tx, change) : tx));
        outbox?.committed();
        await follow(accountId);
        return result;
      },
      createAccount: async (input, change, fn) => {
        const result = await storage.createAccount(input, change, fn);
        await follow(input.account.id);
        return result;
      },
      auditEvents: (accountId) => storage.auditEvents(accountId),
      verifyAudit: (accountId) => storage.verifyAudit(accountId),
    };
  }

  /** The token use cases on the principal's account, recorded as the principal's doing. */
  tokens(principal: Principal): TokenService {
    return new TokenService({ storage: this.storage, accountId: principal.accountId, actor: actorOf(principal), clock: this.clock, publicUrl: this.publicUrl });
  }

  account(principal: Principal): Promise<StoredAccount> {
    return this.tokens(principal).account();
  }

  /**
   * Resolves once this process's memory shows the account as it is now (what another process wrote, for one,
   * before its notification arrives).
   */
  async caughtUp(accountId: string): Promise<void> {
    await this.memory.refreshAccount(accountId);
  }
}
