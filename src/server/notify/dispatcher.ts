import type { Clock } from '../../core/clock.js';
import { dueLifecycleNotices, nextAttemptDelayMs, NOTIFY, type LifecycleNotice } from '../../core/notifications.js';
import type { Sealer } from '../../secrets/seal.js';
import type { ClaimedDelivery, DueNotice, IndexedToken, NoticeBuilder, NotificationStorage } from '../../storage/service-port.js';
import type { DestinationPolicy } from './destination.js';
import { sendAttempt, type Attempt, type AttemptResult } from './sender.js';

/** Sealing associated data of an endpoint's secret: it opens only as that endpoint's. */
export const webhookSecretAad = (accountId: string, endpointId: string) => `${accountId}:webhook:${endpointId}`;

export interface DispatcherOptions {
  storage: NotificationStorage & { ready(): Promise<boolean> };
  sealer: Sealer;
  /** The service's clock (a drill's): when deliveries are due, leases, the delivery log. */
  clock: Clock;
  policy: DestinationPolicy;
  /** How often due deliveries are looked for (0: only when asked, or nudged). */
  everyMs: number;
  /** One attempt's bound (connection included). */
  timeoutMs?: number;
  /** The real clock, for the signature's timestamp (receivers check it against theirs). */
  wallClockMs?: () => number;
  /** Sends an attempt (tests may count them). */
  send?: (a: Attempt) => Promise<AttemptResult>;
  onError(error: unknown): void;
}

/**
 * Delivers the outbox: claims due deliveries (each attempt by one replica only: on PostgreSQL a claim takes the rows
 * with SKIP LOCKED and leases them for longer than an attempt can take, so no other replica attempts them meanwhile,
 * and a replica that dies mid-attempt only delays the next one until the lease ends), sends them at once, and records
 * each attempt in the endpoint's delivery log with the delivery's next step: delivered, retried later (5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h, 10 h: about 27.5 hours in all), or failed for good. At least once: a receiver may see a
 * notification again (the same `webhook-id`), never miss one while it answers within a day.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | null = null;
  private again = false;
  private stopped = false;
  readonly timeoutMs: number;
  readonly leaseMs: number;

  constructor(private readonly o: DispatcherOptions) {
    this.timeoutMs = o.timeoutMs ?? NOTIFY.timeoutMs;
    // Longer than an attempt can take, with room to record its outcome.
    this.leaseMs = this.timeoutMs + 5_000;
    if (o.everyMs > 0) {
      // On the timer, only while the storage can serve: a database away is not asked every second for nothing.
      this.timer = setInterval(() => void o.storage.ready().then((ready) => ready && this.nudge(), () => undefined), o.everyMs);
      this.timer.unref();
    }
  }

  /** Looks for due deliveries now (after a commit that enqueued some), without waiting for the timer. */
  nudge(): void {
    if (this.stopped) return;
    void this.runOnce().catch((error: unknown) => this.o.onError(error));
  }

  /** Attempts every delivery due now (in batches), resolving with the number of attempts made. One run at a time per process. */
  runOnce(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = (async () => {
      let made = 0;
      do {
        this.again = false;
        for (;;) {
          const claims = await this.o.storage.claimDeliveries(this.o.clock.now().getTime(), this.leaseMs, 20);
          if (claims.length === 0) break;
          await Promise.all(claims.map((c) => this.attempt(c)));
          made += claims.length;
          if (this.stopped) break;
        }
      } while (this.again && !this.stopped);
      return made;
    })();
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = null;
    }).catch(() => undefined);
    return run;
  }

  private async attempt(claim: ClaimedDelivery): Promise<void> {
    let result: AttemptResult;
    try {
      const secret = this.o.sealer.open(claim.secret, webhookSecretAad(claim.accountId, claim.endpointId));
      result = await (this.o.send ?? sendAttempt)({
        url: claim.url,
        id: claim.messageId,
        body: claim.body,
        secret,
        timestampSeconds: Math.floor((this.o.wallClockMs ?? Date.now)() / 1000),
        timeoutMs: this.timeoutMs,
        maxResponseBytes: NOTIFY.maxResponseBytes,
        policy: this.o.policy,
      });
    } catch (error) {
      result = { ok: false, status: null, error: `failed (${error instanceof Error ? error.name : 'error'})`, ms: 0 };
    }
    const now = this.o.clock.now();
    const delay = result.ok ? null : nextAttemptDelayMs(claim.attempt);
    try {
      await this.o.storage.finishDelivery(claim, { at: now.toISOString(), ok: result.ok, status: result.status, error: result.error, ms: result.ms, nextAttemptAtMs: delay === null ? null : now.getTime() + delay });
    } catch (error) {
      // Not recorded: the lease ends and the attempt is made again (at least once).
      this.o.onError(error);
    }
  }

  /** Stops looking for deliveries; resolves when the attempts under way are recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }
}

export interface LifecycleOptions {
  storage: NotificationStorage;
  /** Every token the service keeps in memory (live ones, and deleted ones until an hour after their drain). */
  tokens(): Iterable<IndexedToken>;
  clock: Clock;
  build: NoticeBuilder;
  /** How often the time-based events are looked for (0: only when asked). */
  everyMs: number;
  /** Called when some were enqueued (delivery may start at once). */
  enqueued(): void;
  onError(error: unknown): void;
}

/**
 * The events that come with time, by the service's clock (a drill's TOKENCTL_NOW included): token.activated,
 * token.stale_soon, token.stale, token.revoked. Looked for in memory (no query unless one is due); each is marked on
 * its token in the transaction that enqueues it, so replicas notify it once between them. One whose moment passed more
 * than a day ago is not sent late.
 */
export class LifecycleNotices {
  private timer: NodeJS.Timeout | undefined;
  /** Notices known to be marked (by this replica or another), by token and notice, with their moment: no query for them again. */
  private readonly done = new Map<string, number>();
  private running: Promise<DueNotice[]> | null = null;

  constructor(private readonly o: LifecycleOptions) {
    if (o.everyMs > 0) {
      const tick = () => void this.runOnce().catch((error: unknown) => o.onError(error));
      this.timer = setInterval(tick, o.everyMs);
      this.timer.unref();
      // Also a second after start: a service started late (or a drill's, at its TOKENCTL_NOW) does not wait a period.
      this.first = setTimeout(tick, Math.min(1_000, o.everyMs));
      this.first.unref();
    }
  }

  private first: NodeJS.Timeout | undefined;

  /** Marks and enqueues what is due now; resolves with what this run marked. */
  runOnce(): Promise<DueNotice[]> {
    if (this.running) return this.running;
    const run = this.scan();
    this.running = run;
    void run.finally(() => {
      if (this.running === run) this.running = null;
    }).catch(() => undefined);
    return run;
  }

  private async scan(): Promise<DueNotice[]> {
    await Promise.resolve();
    const now = this.o.clock.now();
    for (const [key, at] of this.done) if (now.getTime() - at >= NOTIFY.horizonMs) this.done.delete(key);
    const due: (DueNotice & { at: number })[] = [];
    for (const t of this.o.tokens()) {
      for (const d of dueLifecycleNotices(t, now)) {
        if (!this.done.has(`${t.id} ${d.notice}`)) due.push({ tokenId: t.id, accountId: t.accountId, notice: d.notice, at: d.at });
      }
    }
    if (due.length === 0) return [];
    const marked = await this.o.storage.recordLifecycleNotices(
      due.map(({ at: _, ...d }) => d),
      this.o.build,
    );
    // Marked now or before (by another replica): either way, not asked again.
    for (const d of due) this.done.set(`${d.tokenId} ${d.notice as LifecycleNotice}`, d.at);
    if (marked.length > 0) this.o.enqueued();
    return marked;
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.first);
  }
}
