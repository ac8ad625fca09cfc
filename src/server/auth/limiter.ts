import type { SharedAuthFailures } from '../../storage/service-port.js';

/**
 * Rate limiting of FAILED authentications, per client address: after `maxFailures` failures within `windowMs`
 * the address is refused (429 with Retry-After) for `blockMs`, right credential or not, so a credential
 * cannot be guessed at network speed. A failure given with a `distinct` key (what was tried, hashed) counts once per
 * window: trying the same wrong credential again is not a new guess. Successful requests cost nothing. The table is
 * bounded: the oldest entries go first when it is full.
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
  /** The distinct keys counted in this window (at most maxFailures: the address is blocked then). */
  seen: Set<string> | null;
}

/**
 * Failures counted for every replica (PostgreSQL's auth_failures: storage/service-port.ts SharedAuthFailures). Each
 * replica still counts on its own too, so the limit holds while the database is away.
 */
export type SharedFailureCount = Pick<SharedAuthFailures, 'recordAuthFailure'>;

export class FailedAuthLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly opts: AuthLimiterOptions,
    private readonly now: () => number = Date.now,
    private readonly shared: SharedFailureCount | null = null,
  ) {}

  /** Blocks `key` until `untilMs` (another replica counted its failures to the limit). */
  block(key: string, untilMs: number): void {
    const t = this.now();
    if (untilMs <= t) return;
    const e = this.entries.get(key);
    if (e) e.blockedUntil = Math.max(e.blockedUntil, untilMs);
    else {
      this.evictIfFull();
      this.entries.set(key, { failures: 0, windowStart: t, blockedUntil: untilMs, seen: null });
    }
  }

  private evictIfFull(): void {
    if (this.entries.size >= (this.opts.maxEntries ?? 10_000)) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /** Seconds to wait when `key` is blocked, else 0. */
  retryAfterSeconds(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    const left = e.blockedUntil - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /**
   * Counts a failure. With a shared count it returns a promise that settles once every replica can see it (the
   * caller answers after it, so a client's next attempt meets the limit on any replica), resolving to true when
   * this attempt was already beyond the limit on all replicas together (answer it 429: another replica's block
   * may not have reached this one yet); never rejects.
   */
  recordFailure(key: string, distinct?: string): Promise<boolean> | undefined {
    const t = this.now();
    let e = this.entries.get(key);
    if (!e || t - e.windowStart > this.opts.windowMs) {
      this.entries.delete(key);
      e = { failures: 0, windowStart: t, blockedUntil: e && e.blockedUntil > t ? e.blockedUntil : 0, seen: null };
      this.evictIfFull();
      this.entries.set(key, e);
    }
    if (distinct !== undefined) {
      // The same credential again within the window: already counted (here; another replica counts it once too).
      if (e.seen?.has(distinct)) return undefined;
      (e.seen ??= new Set()).add(distinct);
    }
    e.failures += 1;
    if (e.failures >= this.opts.maxFailures) e.blockedUntil = t + this.opts.blockMs;
    // Counted for every replica as well; the answer blocks here too once the shared count reaches the limit.
    if (!this.shared) return undefined;
    // At most a second: a slow or unreachable database must not hold every 401 (this replica's count still holds).
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 1_000);
      timer.unref();
    });
    const counted = this.shared.recordAuthFailure(key, t, this.opts).then(
      ({ untilMs, failures }) => {
        this.block(key, untilMs);
        return failures > this.opts.maxFailures;
      },
      () => false, // the database is away: this replica's own count still holds
    );
    return Promise.race([counted, late]).finally(() => clearTimeout(timer));
  }
}
