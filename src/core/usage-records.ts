import { USAGE, type TokenUsage, type UsageCaller } from './usage.js';

/**
 * What a store keeps of a token's usage (calls per day and hour, callers) and how it is read for people at a time:
 * the service's side of core/usage.ts (the CLI reads TokenUsage, already made). Pure.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const later = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);
const earlier = (a: string, b: string) => (a < b ? a : b);

/** What a store keeps of a token's usage, before it is read for people. */
export interface UsageRecords {
  lastUsedAt: string | null;
  days: readonly { day: string; calls: number }[];
  hours: readonly { hour: string; calls: number }[];
  callers: readonly UsageCaller[];
}

export const EMPTY_USAGE: UsageRecords = Object.freeze({ lastUsedAt: null, days: [], hours: [], callers: [] });

/** The UTC day ("2026-03-01") of an instant (ms). */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
/** The UTC hour ("2026-03-01T10") of an instant (ms). */
export const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);
/** The UTC hour of an hour number (ms / 1 h, as the recorder counts them). */
export const hourKey = (hourNumber: number): string => hourOf(hourNumber * HOUR);

/** What may be forgotten at `now`: days before `day`, hours before `hour`, callers not seen since `caller`. */
export function usageCutoffs(now: Date): { day: string; hour: string; caller: string } {
  const t = now.getTime();
  return { day: dayOf(t - (USAGE.days - 1) * DAY), hour: hourOf(t - (USAGE.hoursKept - 1) * HOUR), caller: new Date(t - USAGE.days * DAY).toISOString() };
}

const callerKey = (c: Pick<UsageCaller, 'kind' | 'principalId' | 'address'>) => `${c.kind}\n${c.principalId ?? ''}\n${c.address ?? ''}`;

/** Two records of the same token added up (a replica's unflushed use over what the database has): counts add, times take the later. */
export function mergeUsageRecords(a: UsageRecords, b: UsageRecords): UsageRecords {
  const add = <K extends 'day' | 'hour'>(key: K, x: readonly ({ calls: number } & Record<K, string>)[], y: readonly ({ calls: number } & Record<K, string>)[]) => {
    const sums = new Map<string, number>();
    for (const r of [...x, ...y]) sums.set(r[key], (sums.get(r[key]) ?? 0) + r.calls);
    return [...sums].map(([k, calls]) => ({ [key]: k, calls }) as { calls: number } & Record<K, string>);
  };
  const callers = new Map<string, UsageCaller>();
  for (const c of [...a.callers, ...b.callers]) {
    const key = callerKey(c);
    const seen = callers.get(key);
    callers.set(
      key,
      seen === undefined
        ? { ...c }
        : {
            ...seen,
            principalName: c.lastSeenAt >= seen.lastSeenAt ? (c.principalName ?? seen.principalName) : seen.principalName,
            firstSeenAt: earlier(seen.firstSeenAt, c.firstSeenAt),
            lastSeenAt: later(seen.lastSeenAt, c.lastSeenAt)!,
            calls: seen.calls + c.calls,
            drainingCalls: seen.drainingCalls + c.drainingCalls,
            drainingLastSeenAt: later(seen.drainingLastSeenAt, c.drainingLastSeenAt),
          },
    );
  }
  return { lastUsedAt: later(a.lastUsedAt, b.lastUsedAt), days: add('day', a.days, b.days), hours: add('hour', a.hours, b.hours), callers: [...callers.values()] };
}

/** A store's records of a token, read for people at `now`: the last 30 days filled in, the last 24 hours counted, callers newest first. */
export function tokenUsage(tokenId: string, r: UsageRecords, now: Date): TokenUsage {
  const t = now.getTime();
  const byDay = new Map<string, number>();
  for (const d of r.days) byDay.set(d.day, (byDay.get(d.day) ?? 0) + d.calls);
  const callsPerDay = Array.from({ length: USAGE.days }, (_, i) => {
    const day = dayOf(t - (USAGE.days - 1 - i) * DAY);
    return { day, calls: byDay.get(day) ?? 0 };
  });
  const since = hourOf(t - 23 * HOUR);
  const until = hourOf(t);
  const calls24h = r.hours.reduce((n, h) => (h.hour >= since && h.hour <= until ? n + h.calls : n), 0);
  const callers = [...r.callers].sort((a, b) => (a.lastSeenAt < b.lastSeenAt ? 1 : a.lastSeenAt > b.lastSeenAt ? -1 : 0)).slice(0, USAGE.maxCallers);
  const introspected = callers.filter((c) => c.kind === 'introspection').reduce<string | null>((m, c) => later(m, c.lastSeenAt), null);
  return { tokenId, tracked: true, lastUsedAt: later(r.lastUsedAt, introspected), calls24h, callsPerDay, callers };
}

