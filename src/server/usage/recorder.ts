import type { UsageCaller, UsageKind } from '../../core/usage.js';
import { hourKey, type UsageRecords } from '../../core/usage-records.js';
import type { DrainingUseBuilder, TokenUsageDelta, UsageCallerDelta, UsageSink } from '../../storage/service-port.js';

/** Who used a token: the principal (a resource server at introspection, an admin at a retrieval). */
export interface UsagePrincipal {
  readonly id: string;
  readonly name: string;
}

const HOUR = 3_600_000;
/** Distinct callers kept per token between two writes; more are counted without their address (a flood of addresses cannot grow memory). */
const MAX_CALLERS_PER_BATCH = 64;

/** One caller's use since the last write: plain numbers, made once per caller per batch, then only counted. */
class CallerUse {
  calls = 0;
  draining = 0;
  drainingLast = -1;
  constructor(
    readonly kind: UsageKind,
    readonly principalId: string,
    public principalName: string,
    readonly address: string,
    public first: number,
    public last: number,
  ) {}
}

/** One token's use since the last write. */
class TokenUse {
  /** Newest introspection (ms), -1: none (retrievals only). */
  last = -1;
  /** The current hour (ms / 1 h) and its calls; earlier hours of the same batch (a batch spanning an hour's end) aside. */
  hour = -1;
  hourCalls = 0;
  earlier: Map<number, number> | null = null;
  /** Callers by principal id, then address. */
  readonly callers = new Map<string, Map<string, CallerUse>>();
  callerCount = 0;

  caller(kind: UsageKind, principal: UsagePrincipal, address: string, t: number): CallerUse {
    // Retrievals are few: they share the maps under a key of their own, never the hot path's.
    const key = kind === 'introspection' ? principal.id : `retrieval ${principal.id}`;
    let byAddress = this.callers.get(key);
    if (byAddress === undefined) {
      byAddress = new Map();
      this.callers.set(key, byAddress);
    }
    let c = byAddress.get(address);
    if (c === undefined) {
      if (this.callerCount >= MAX_CALLERS_PER_BATCH && address !== '') return this.caller(kind, principal, '', t);
      c = new CallerUse(kind, principal.id, principal.name, address, t, t);
      byAddress.set(address, c);
      this.callerCount++;
    }
    return c;
  }

  countHour(h: number, calls: number): void {
    if (h === this.hour) this.hourCalls += calls;
    else if (this.hour === -1) {
      this.hour = h;
      this.hourCalls = calls;
    } else {
      // Another hour: the rarer one goes aside (a batch is 5 s long, so it holds at most two hours, rarely).
      const earlier = (this.earlier ??= new Map());
      if (h > this.hour) {
        earlier.set(this.hour, (earlier.get(this.hour) ?? 0) + this.hourCalls);
        this.hour = h;
        this.hourCalls = calls;
      } else earlier.set(h, (earlier.get(h) ?? 0) + calls);
    }
  }

  hours(): Map<number, number> {
    const all = new Map(this.earlier ?? []);
    if (this.hour !== -1) all.set(this.hour, (all.get(this.hour) ?? 0) + this.hourCalls);
    return all;
  }

  /** Adds another batch's use of the same token (a failed write kept for the next one). */
  absorb(o: TokenUse): void {
    if (o.last > this.last) this.last = o.last;
    for (const [h, calls] of o.hours()) this.countHour(h, calls);
    for (const byAddress of o.callers.values()) {
      for (const c of byAddress.values()) {
        const mine = this.caller(c.kind, { id: c.principalId, name: c.principalName }, c.address, c.first);
        if (c.last >= mine.last) mine.principalName = c.principalName;
        if (c.first < mine.first) mine.first = c.first;
        if (c.last > mine.last) mine.last = c.last;
        mine.calls += c.calls;
        mine.draining += c.draining;
        if (c.drainingLast > mine.drainingLast) mine.drainingLast = c.drainingLast;
      }
    }
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function callerDelta(c: CallerUse): UsageCallerDelta {
  return {
    kind: c.kind,
    principalId: c.principalId,
    principalName: c.principalName,
    address: c.address,
    firstAt: iso(c.first),
    lastAt: iso(c.last),
    calls: c.calls,
    drainingCalls: c.draining,
    drainingLastAt: c.drainingLast < 0 ? null : iso(c.drainingLast),
  };
}

function delta(tokenId: string, u: TokenUse): TokenUsageDelta {
  const callers: UsageCallerDelta[] = [];
  for (const byAddress of u.callers.values()) for (const c of byAddress.values()) callers.push(callerDelta(c));
  return {
    tokenId,
    lastUsedAt: u.last < 0 ? null : iso(u.last),
    hours: [...u.hours()].map(([h, calls]) => ({ hour: hourKey(h), calls })),
    callers,
  };
}

/** A batch's records of a token as core/usage.ts reads them (the unflushed overlay of what the service shows). */
function records(u: TokenUse): UsageRecords {
  const d = delta('', u);
  const days = new Map<string, number>();
  for (const h of d.hours) days.set(h.hour.slice(0, 10), (days.get(h.hour.slice(0, 10)) ?? 0) + h.calls);
  const callers: UsageCaller[] = d.callers.map((c) => ({
    kind: c.kind,
    principalId: c.principalId === '' ? null : c.principalId,
    principalName: c.principalName === '' ? null : c.principalName,
    address: c.address === '' ? null : c.address,
    firstSeenAt: c.firstAt,
    lastSeenAt: c.lastAt,
    calls: c.calls,
    drainingCalls: c.drainingCalls,
    drainingLastSeenAt: c.drainingLastAt,
  }));
  return { lastUsedAt: d.lastUsedAt, days: [...days].map(([day, calls]) => ({ day, calls })), hours: d.hours, callers };
}

/**
 * Usage per token, recorded where it happens (the introspection door; a value's retrieval) but never with a database
 * write per request: counted in memory and written in one transaction on a timer (5 s) and at shutdown. The hot path
 * (recordIntrospection) finds its counters by token id, principal id and address in maps (three lookups) and adds to
 * numbers: an object is made only for a token or caller first seen in a batch. Readers overlay what is not written
 * yet (`peek`, `unflushed`), so the service never shows less than it saw.
 *
 * Memory: per token used within a batch, one TokenUse and a CallerUse per distinct caller (at most 64), about 0.3 KB
 * with one caller; nothing between batches.
 */
export class UsageRecorder {
  private pending = new Map<string, TokenUse>();
  private timer: NodeJS.Timeout | undefined;
  /** A write of an earlier batch still under way (an asynchronous sink): the next flush waits for it. */
  private writing: Promise<void> | null = null;
  /** That batch, until its write settles. */
  private inFlight: Map<string, TokenUse> | null = null;

  constructor(
    private readonly store: UsageSink,
    private readonly onError: (error: unknown) => void,
    flushEveryMs = 5_000,
    /** Builds the notification of a caller first seen presenting a deleted token while it drains (the outbox's). */
    private readonly onDrainingUse: DrainingUseBuilder | null = null,
  ) {
    if (flushEveryMs > 0) {
      this.timer = setInterval(() => void this.flush(), flushEveryMs);
      this.timer.unref();
    }
  }

  private use(tokenId: string): TokenUse {
    let u = this.pending.get(tokenId);
    if (u === undefined) {
      u = new TokenUse();
      this.pending.set(tokenId, u);
    }
    return u;
  }

  /**
   * The introspection door's record of one answer about a token (active or draining): when (ms, the service's clock),
   * by which resource server, from which client address ('' when unknown), and whether the token was draining.
   */
  recordIntrospection(tokenId: string, t: number, principal: UsagePrincipal, address: string, draining: boolean): void {
    const u = this.use(tokenId);
    if (t > u.last) u.last = t;
    const h = Math.floor(t / HOUR);
    if (h === u.hour) u.hourCalls++;
    else u.countHour(h, 1);
    const c = u.caller('introspection', principal, address, t);
    c.calls++;
    if (t > c.last) {
      c.last = t;
      c.principalName = principal.name;
    } else if (t < c.first) c.first = t;
    if (draining) {
      c.draining++;
      if (t > c.drainingLast) c.drainingLast = t;
    }
  }

  /** A value retrieved (revealed) by a principal from an address: who holds the value, not a call made with it. */
  recordRetrieval(tokenId: string, t: number, principal: UsagePrincipal, address: string): void {
    const c = this.use(tokenId).caller('retrieval', principal, address, t);
    c.calls++;
    if (t > c.last) c.last = t;
    if (t < c.first) c.first = t;
  }

  /** The unwritten last-used time of a token (ISO), if any: a batch being written is still shown (the database may not have it yet). */
  peek(tokenId: string): string | undefined {
    const a = this.pending.get(tokenId)?.last ?? -1;
    const b = this.inFlight?.get(tokenId)?.last ?? -1;
    const t = Math.max(a, b);
    return t < 0 ? undefined : iso(t);
  }

  /** A token's unwritten usage (this batch and the one being written), or null. */
  unflushed(tokenId: string): UsageRecords | null {
    const parts = [this.pending.get(tokenId), this.inFlight?.get(tokenId)].filter((u): u is TokenUse => u !== undefined);
    if (parts.length === 0) return null;
    const all = new TokenUse();
    for (const p of parts) all.absorb(p);
    return records(all);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Writes what is pending; returns a promise when the sink is asynchronous (awaited at shutdown). */
  flush(): void | Promise<void> {
    if (this.writing) return this.writing.then(() => this.flush());
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    // Keep the batch for the next attempt (a busy or unreachable database): counts add up, the newest time wins.
    const keep = (error: unknown) => {
      for (const [id, u] of batch) {
        const now = this.pending.get(id);
        if (now === undefined) this.pending.set(id, u);
        else now.absorb(u);
      }
      this.onError(error);
    };
    try {
      const written = this.store.recordUsage(
        [...batch].map(([id, u]) => delta(id, u)),
        this.onDrainingUse,
      );
      if (written instanceof Promise) {
        this.inFlight = batch;
        this.writing = written.then(
          () => undefined,
          (error: unknown) => keep(error),
        );
        void this.writing.finally(() => {
          this.writing = null;
          this.inFlight = null;
        });
        return this.writing;
      }
    } catch (error) {
      keep(error);
    }
  }

  /** Stops the timer and writes what is pending (at once with a synchronous sink; a promise otherwise). */
  stop(): void | Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    return this.writing ? this.writing.then(() => this.flush()) : this.flush();
  }
}
