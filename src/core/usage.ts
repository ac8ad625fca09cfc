import { TokenNotFoundError } from './errors.js';
import { formatAgo, formatCount, formatInstant } from './format.js';
import { nameKey } from './names.js';
import { isLive, rejectedAtOf, resolveToken, tokenStatus, type TokenRecord } from './tokens.js';

/**
 * Who still depends on a token: what the token service records of its use (at introspection, where resource servers
 * present it, and at a value's retrieval), and the rules every surface reads it by: what counts as "in use", "used
 * while draining" and "unused for N minutes", and the sentence the delete screen, `usage` and `rotate` show. Pure.
 */

const MINUTE = 60_000;
const later = (a: string, b: string) => (a > b ? a : b);
const earlier = (a: string, b: string) => (a < b ? a : b);

export const USAGE = {
  /** Calls per day are kept for this many UTC days (by the service's clock). */
  days: 30,
  /** Calls per hour are kept this long: "the last 24 hours" is counted by the hour. */
  hoursKept: 48,
  /** At most this many callers (resource server and client address) are kept per token: the most recently seen. */
  maxCallers: 50,
  /** Used within this long: something still calls with it ("in use"). */
  inUseMs: 15 * MINUTE,
  /** The longest `rotate --wait-unused` accepts, in minutes (a day). */
  maxWaitUnusedMinutes: 1_440,
} as const;

/** How a value was used: presented to a resource server (introspection), or handed out to someone (retrieval). */
export type UsageKind = 'introspection' | 'retrieval';

/**
 * One caller of a token: for introspection, the resource server that asked (the introspecting principal) from the
 * client address the service saw (through a trusted proxy, the client's); for a retrieval, who retrieved the value.
 */
export interface UsageCaller {
  kind: UsageKind;
  principalId: string | null;
  /** The principal's name (a resource server's, an admin's), or the actor of a local store (`os:alice`). */
  principalName: string | null;
  address: string | null;
  firstSeenAt: string;
  lastSeenAt: string;
  /** Within the retention (30 days). */
  calls: number;
  /** Calls made while the token was draining (deleted, not yet rejected): a system that has not switched. */
  drainingCalls: number;
  drainingLastSeenAt: string | null;
}

/** A token's usage as every surface shows it (and the API answers it). */
export interface TokenUsage {
  tokenId: string;
  /** false: a store that cannot see calls (the local store): only its own retrievals are known. */
  tracked: boolean;
  /** The last time it was presented to a resource server. */
  lastUsedAt: string | null;
  /** Calls in the last 24 hours (counted by the hour: the current hour and the 23 before it). */
  calls24h: number;
  /** Calls per UTC day for the last 30 days, oldest first (empty when not tracked). */
  callsPerDay: { day: string; calls: number }[];
  /** Most recently seen first, at most USAGE.maxCallers. */
  callers: UsageCaller[];
}

/** A token the service recorded no use of (GET /v1/usage leaves it out): never presented, never retrieved. */
export function neverUsed(tokenId: string): TokenUsage {
  return { tokenId, tracked: true, lastUsedAt: null, calls24h: 0, callsPerDay: [], callers: [] };
}

/** The usage a store that cannot see calls knows: its own retrievals (the local store, from its audit trail). */
export function untrackedUsage(tokenId: string, retrievals: readonly { at: string; actor: string }[]): TokenUsage {
  const byActor = new Map<string, UsageCaller>();
  for (const r of retrievals) {
    const seen = byActor.get(r.actor);
    if (seen) {
      seen.calls += 1;
      seen.firstSeenAt = earlier(seen.firstSeenAt, r.at);
      seen.lastSeenAt = later(seen.lastSeenAt, r.at);
    } else {
      byActor.set(r.actor, { kind: 'retrieval', principalId: null, principalName: r.actor, address: null, firstSeenAt: r.at, lastSeenAt: r.at, calls: 1, drainingCalls: 0, drainingLastSeenAt: null });
    }
  }
  const callers = [...byActor.values()].sort((a, b) => (a.lastSeenAt < b.lastSeenAt ? 1 : -1));
  return { tokenId, tracked: false, lastUsedAt: null, calls24h: 0, callsPerDay: [], callers };
}

/** The resource server and address that presented the token last (null: never, or not within the retention). */
export function lastCallerOf(u: TokenUsage): UsageCaller | null {
  return u.callers.filter((c) => c.kind === 'introspection').reduce<UsageCaller | null>((m, c) => (m === null || c.lastSeenAt > m.lastSeenAt ? c : m), null);
}

/** Who retrieved the value, and how often (within the retention on the service; all of the trail on a local store). */
export function retrievalsOf(u: TokenUsage): { count: number; last: UsageCaller | null } {
  const r = u.callers.filter((c) => c.kind === 'retrieval');
  return { count: r.reduce((n, c) => n + c.calls, 0), last: r.reduce<UsageCaller | null>((m, c) => (m === null || c.lastSeenAt > m.lastSeenAt ? c : m), null) };
}

/** Calls made with the token while it was draining, and by whom; null when none were. */
export function drainingUseOf(u: TokenUsage): { calls: number; lastSeenAt: string; callers: UsageCaller[] } | null {
  const callers = u.callers.filter((c) => c.kind === 'introspection' && c.drainingCalls > 0);
  if (callers.length === 0) return null;
  const sorted = callers.sort((a, b) => ((a.drainingLastSeenAt ?? '') < (b.drainingLastSeenAt ?? '') ? 1 : -1));
  return { calls: sorted.reduce((n, c) => n + c.drainingCalls, 0), lastSeenAt: sorted[0]!.drainingLastSeenAt ?? sorted[0]!.lastSeenAt, callers: sorted };
}

/** How long since it was last presented (ms); null when it never was (or a store that cannot see calls). */
export function unusedForMs(u: TokenUsage, now: Date): number | null {
  if (!u.tracked || u.lastUsedAt === null) return null;
  return Math.max(0, now.getTime() - Date.parse(u.lastUsedAt));
}

/** Something still calls with it: presented within the last 15 minutes. */
export function isInUse(u: TokenUsage, now: Date): boolean {
  const idle = unusedForMs(u, now);
  return idle !== null && idle < USAGE.inUseMs;
}

/** Not presented for at least `ms` (never presented counts): what `rotate --wait-unused` waits for. */
export function unusedForAtLeast(u: TokenUsage, now: Date, ms: number): boolean {
  const idle = unusedForMs(u, now);
  return idle === null || idle >= ms;
}

/**
 * The drain watch: a deleted token still presented during its drain is a system that has not switched, and will fail
 * once the drain ends. True while the token drains and such calls were recorded.
 */
export function usedWhileDraining(token: TokenRecord, u: TokenUsage | undefined, now: Date): boolean {
  return u !== undefined && token.deletedAt !== null && tokenStatus(token, now) === 'draining' && drainingUseOf(u) !== null;
}

const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;

/** "edge-gw from 10.0.4.7", "edge-gw", "10.0.4.7": who, as far as known. */
export function callerText(c: Pick<UsageCaller, 'principalName' | 'address'>): string {
  const who = c.principalName ?? '';
  const from = c.address ? `from ${c.address}` : '';
  return [who, from].filter(Boolean).join(' ');
}

/**
 * The one fact an admin needs before deleting a token, as the delete screen, `usage` and `rotate` say it: "Last used 2
 * minutes ago by edge-gw from 10.0.4.7; 1,204 calls in the last 24 hours", or "Never used". A store that cannot see
 * calls says so instead.
 */
export function usageLine(u: TokenUsage, now: Date): string {
  if (!u.tracked) return 'Calls made with it: unknown here (a local store cannot see where tokens are used; the token service records them)';
  if (u.lastUsedAt === null) return 'Never used';
  const caller = lastCallerOf(u);
  const by = caller ? callerText(caller) : '';
  return `Last used ${formatAgo(now.getTime() - Date.parse(u.lastUsedAt))}${by ? ` by ${by}` : ''}; ${u.calls24h === 0 ? 'no calls' : plural(u.calls24h, 'call')} in the last 24 hours`;
}

/**
 * Calls per day in one sentence, for the chart that draws them: "Calls per day, 2026-01-31 to 2026-03-01 (UTC): 1,204
 * in all, at most 96 (2026-02-27)"; null when nothing is tracked.
 */
export function callsPerDayText(u: TokenUsage): string | null {
  const days = u.callsPerDay;
  if (!u.tracked || days.length === 0) return null;
  const busiest = days.reduce((m, d) => (d.calls > m.calls ? d : m), days[0]!);
  const total = days.reduce((n, d) => n + d.calls, 0);
  return `Calls per day, ${days[0]!.day} to ${days.at(-1)!.day} (UTC): ${formatCount(total)} in all` + (busiest.calls > 0 ? `, at most ${formatCount(busiest.calls)} (${busiest.day})` : '');
}

/** "Retrieved 3 times, last 2 hours ago by admin from 10.0.0.5", or null when the value was never retrieved. */
export function retrievalLine(u: TokenUsage, now: Date): string | null {
  const { count, last } = retrievalsOf(u);
  if (count === 0 || last === null) return null;
  const by = callerText(last);
  return `Retrieved ${count === 1 ? 'once' : `${formatCount(count)} times`}, last ${formatAgo(now.getTime() - Date.parse(last.lastSeenAt))}${by ? ` by ${by}` : ''}`;
}

/** The drain watch's mark on a deleted token's row (the Tokens page), whose words drainingUseLine starts with. */
export const DRAINING_USE_MARK = 'Still presented';

/**
 * The drain watch in words: "Still presented while draining: 42 calls, last 1 minute ago by edge-gw from 10.0.4.7;
 * calls are rejected from 2026-03-01 11:01 UTC"; null when it is not draining or nothing presented it meanwhile.
 */
export function drainingUseLine(token: TokenRecord, u: TokenUsage | undefined, now: Date): string | null {
  if (!u || !usedWhileDraining(token, u, now)) return null;
  const d = drainingUseOf(u)!;
  const who = d.callers.map(callerText).filter(Boolean);
  const shown = who.slice(0, 3).join(', ') + (who.length > 3 ? ` and ${who.length - 3} more` : '');
  return (
    `${DRAINING_USE_MARK} while draining: ${plural(d.calls, 'call')}, last ${formatAgo(now.getTime() - Date.parse(d.lastSeenAt))}${shown ? ` by ${shown}` : ''}; ` +
    `calls are rejected from ${formatInstant(rejectedAtOf(token)!)}`
  );
}

/**
 * The token a `usage` reference names: a live token by id or name, else a deleted one by id, else the latest deleted
 * one of that name (whether a deleted token is still presented is exactly what one asks after a rotation). Reading
 * usage reveals no value, so deleted tokens are found, unlike by resolveToken.
 */
export function resolveTokenForUsage(tokens: readonly TokenRecord[], ref: string): TokenRecord {
  try {
    return resolveToken(tokens, ref);
  } catch (error) {
    if (!(error instanceof TokenNotFoundError)) throw error;
    const wanted = ref.trim();
    const byId = tokens.find((t) => t.id === wanted);
    if (byId) return byId;
    const key = nameKey(wanted);
    const deleted = tokens.filter((t) => !isLive(t) && nameKey(t.name) === key).sort((a, b) => (a.deletedAt! < b.deletedAt! ? 1 : -1))[0];
    if (deleted) return deleted;
    throw error;
  }
}

/** `rotate --wait-unused <minutes>`: a whole number of minutes from 1 to a day. */
export function parseWaitUnusedMinutes(text: string): number | null {
  const n = Number(text);
  return /^\d{1,4}$/.test(text.trim()) && n >= 1 && n <= USAGE.maxWaitUnusedMinutes ? n : null;
}
