import type { Clock } from '../../core/clock.js';
import type { TokenUsage } from '../../core/usage.js';
import { EMPTY_USAGE, mergeUsageRecords, tokenUsage, usageCutoffs, type UsageRecords } from '../../core/usage-records.js';
import type { UsageSource } from '../../storage/service-port.js';
import type { UsageRecorder } from './recorder.js';

/**
 * Usage as the service answers it (the API, and the Tokens page): what the database has of every replica's batches,
 * with this replica's own use not written yet added, read at the service's clock. Another replica's unwritten use
 * shows once it writes its batch (every 5 s).
 */
export class UsageReports {
  constructor(
    private readonly storage: UsageSource,
    private readonly recorder: UsageRecorder,
    private readonly clock: Clock,
  ) {}

  private withUnflushed(tokenId: string, stored: UsageRecords | undefined): UsageRecords {
    const unflushed = this.recorder.unflushed(tokenId);
    const base = stored ?? EMPTY_USAGE;
    return unflushed ? mergeUsageRecords(base, unflushed) : base;
  }

  /** One token's usage (callers, addresses, calls per day). */
  async ofToken(accountId: string, tokenId: string): Promise<TokenUsage> {
    const now = this.clock.now();
    const stored = await this.storage.usageOf(accountId, [tokenId], usageCutoffs(now));
    return tokenUsage(tokenId, this.withUnflushed(tokenId, stored.get(tokenId)), now);
  }

  /** Every token of the account with any use recorded (a token missing from it was never seen in use in 30 days). */
  async ofAccount(accountId: string): Promise<TokenUsage[]> {
    const now = this.clock.now();
    const stored = await this.storage.usageOf(accountId, null, usageCutoffs(now));
    const out: TokenUsage[] = [];
    for (const [tokenId, records] of stored) {
      const r = this.withUnflushed(tokenId, records);
      if (r.lastUsedAt === null && r.callers.length === 0 && r.days.length === 0) continue;
      out.push(tokenUsage(tokenId, r, now));
    }
    return out;
  }
}
