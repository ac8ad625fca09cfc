/**
 * Rate limiting of FAILED authentications, per client address: after `maxFailures` failures within `windowMs`
 * the address is refused (429 with Retry-After) for `blockMs`, right credential or not, so a credential
 * cannot be guessed at network speed. Successful requests cost nothing. The table is bounded: the oldest
 * entries go first when it is full.
 */
export interface AuthLimiterOptions {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  maxEntries?: number;
}

interface Entry {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

export class FailedAuthLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly opts: AuthLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait when `key` is blocked, else 0. */
  retryAfterSeconds(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    const left = e.blockedUntil - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  recordFailure(key: string): void {
    const t = this.now();
    let e = this.entries.get(key);
    if (!e || t - e.windowStart > this.opts.windowMs) {
      this.entries.delete(key);
      e = { failures: 0, windowStart: t, blockedUntil: 0 };
      if (this.entries.size >= (this.opts.maxEntries ?? 10_000)) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(key, e);
    }
    e.failures += 1;
    if (e.failures >= this.opts.maxFailures) e.blockedUntil = t + this.opts.blockMs;
  }
}
