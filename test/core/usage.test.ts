import { describe, expect, it } from 'vitest';
import { reviewTokens } from '../../src/core/audit.js';
import { formatAgo, formatCount } from '../../src/core/format.js';
import { mergeUsageRecords, tokenUsage, usageCutoffs } from '../../src/core/usage-records.js';
import { attemptResultText, lastDeliveryText } from '../../src/core/deliveries.js';
import { NOTIFICATION_TYPES, NOTIFICATION_WHEN } from '../../src/core/notifications.js';
import {
  callsPerDayText,
  DRAINING_USE_MARK,
  drainingUseLine,
  neverUsed,
  isInUse,
  parseWaitUnusedMinutes,
  resolveTokenForUsage,
  retrievalLine,
  unusedForAtLeast,
  untrackedUsage,
  usageLine,
  usedWhileDraining,
  type UsageCaller,
} from '../../src/core/usage.js';
import type { TokenRecord } from '../../src/core/tokens.js';

const MIN = 60_000;
const now = new Date('2026-03-01T12:00:00.000Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const caller = (o: Partial<UsageCaller>): UsageCaller => ({
  kind: 'introspection',
  principalId: 'prn_gw',
  principalName: 'edge-gw',
  address: '10.0.4.7',
  firstSeenAt: ago(60 * MIN),
  lastSeenAt: ago(2 * MIN),
  calls: 1,
  drainingCalls: 0,
  drainingLastSeenAt: null,
  ...o,
});
const token = (o: Partial<TokenRecord> = {}): TokenRecord => ({
  id: 'tok_1',
  name: 'events',
  type: 's2s',
  createdAt: '2026-02-01T10:00:00.000Z',
  activatesAt: '2026-02-01T10:30:00.000Z',
  deletedAt: null,
  lastUsedAt: null,
  masked: 'tctl_s2s_…abcd',
  ...o,
});

describe('usage: the rules every surface reads', () => {
  it('words the one fact before a deletion: last use, by whom, from where, calls in the last 24 hours; or never used', () => {
    const used = tokenUsage(
      'tok_1',
      {
        lastUsedAt: ago(2 * MIN),
        days: [{ day: '2026-03-01', calls: 1_204 }],
        hours: [
          { hour: '2026-03-01T12', calls: 200 },
          { hour: '2026-03-01T00', calls: 1_004 },
          { hour: '2026-02-28T12', calls: 50_000 }, // 24 hours ago and more: not counted
        ],
        callers: [caller({ calls: 1_204 }), caller({ principalName: 'billing', address: '10.0.9.1', lastSeenAt: ago(90 * MIN) })],
      },
      now,
    );
    expect(usageLine(used, now)).toBe('Last used 2 minutes ago by edge-gw from 10.0.4.7; 1,204 calls in the last 24 hours');
    expect(used.callsPerDay).toHaveLength(30);
    expect(used.callsPerDay.at(-1)).toEqual({ day: '2026-03-01', calls: 1_204 });
    expect(used.callsPerDay[0]!.day).toBe('2026-01-31');
    expect(usageLine(tokenUsage('tok_1', { lastUsedAt: null, days: [], hours: [], callers: [] }, now), now)).toBe('Never used');
    const old = tokenUsage('tok_1', { lastUsedAt: ago(45 * 24 * 60 * MIN), days: [], hours: [], callers: [] }, now);
    expect(usageLine(old, now)).toBe('Last used 45 days ago; no calls in the last 24 hours');
    expect(usageLine(untrackedUsage('tok_1', []), now)).toMatch(/^Calls made with it: unknown here \(a local store cannot see/);
    expect(formatCount(1_234_567)).toBe('1,234,567');
    expect(formatAgo(30_000)).toBe('less than a minute ago');
    expect(formatAgo(60 * MIN)).toBe('1 hour ago');
  });

  it('in use, unused for N minutes, never used', () => {
    const u = (lastMinutesAgo: number | null) =>
      tokenUsage('tok_1', { lastUsedAt: lastMinutesAgo === null ? null : ago(lastMinutesAgo * MIN), days: [], hours: [], callers: [] }, now);
    expect(isInUse(u(14), now)).toBe(true);
    expect(isInUse(u(15), now)).toBe(false);
    expect(isInUse(u(null), now)).toBe(false);
    expect(unusedForAtLeast(u(5), now, 10 * MIN)).toBe(false);
    expect(unusedForAtLeast(u(10), now, 10 * MIN)).toBe(true);
    expect(unusedForAtLeast(u(null), now, 10 * MIN)).toBe(true);
    expect(isInUse(untrackedUsage('tok_1', []), now)).toBe(false);
    expect(parseWaitUnusedMinutes('15')).toBe(15);
    for (const bad of ['0', '1441', '1.5', '-3', 'ten', '']) expect(parseWaitUnusedMinutes(bad), bad).toBeNull();
  });

  it('the drain watch: a deleted token still presented during its drain, and only then', () => {
    const deleted = token({ deletedAt: ago(5 * MIN) });
    const presented = tokenUsage('tok_1', { lastUsedAt: ago(MIN), days: [], hours: [], callers: [caller({ calls: 50, drainingCalls: 42, drainingLastSeenAt: ago(MIN) })] }, now);
    expect(usedWhileDraining(deleted, presented, now)).toBe(true);
    expect(drainingUseLine(deleted, presented, now)).toBe('Still presented while draining: 42 calls, last 1 minute ago by edge-gw from 10.0.4.7; calls are rejected from 2026-03-01 12:25 UTC');
    // Revoked now, or live, or never presented while draining: no finding.
    expect(usedWhileDraining(token({ deletedAt: ago(40 * MIN) }), presented, now)).toBe(false);
    expect(usedWhileDraining(token(), presented, now)).toBe(false);
    const before = tokenUsage('tok_1', { lastUsedAt: ago(6 * MIN), days: [], hours: [], callers: [caller({ calls: 50 })] }, now);
    expect(usedWhileDraining(deleted, before, now)).toBe(false);
    // The review: a critical finding that fails the gate, before stale ones.
    const report = reviewTokens([token({ id: 'tok_new', name: 'events-2' }), deleted], [], [], { asOf: now, maxAgeDays: 180, withinDays: 30, usage: new Map([['tok_1', presented]]) });
    expect(report.findings[0]).toMatchObject({ kind: 'draining-in-use', severity: 'critical', name: 'events', action: 'put its replacement in place in edge-gw from 10.0.4.7 before it is rejected' });
    expect(report.findings.some((f) => f.kind === 'draining' && f.tokenId === 'tok_1')).toBe(false);
    expect(report).toMatchObject({ ok: false, drainingInUse: 1, stale: 0 });
    expect(report.verdict).toMatch(/^FAIL: 1 deleted token still in use while draining/);
  });

  it('adds up records (a replica\'s unwritten use over the database\'s), and knows what to forget', () => {
    const a = { lastUsedAt: ago(10 * MIN), days: [{ day: '2026-03-01', calls: 2 }], hours: [{ hour: '2026-03-01T11', calls: 2 }], callers: [caller({ calls: 2, lastSeenAt: ago(10 * MIN) })] };
    const b = { lastUsedAt: ago(MIN), days: [{ day: '2026-03-01', calls: 3 }], hours: [{ hour: '2026-03-01T11', calls: 3 }], callers: [caller({ calls: 3, lastSeenAt: ago(MIN), firstSeenAt: ago(MIN) })] };
    const m = mergeUsageRecords(a, b);
    expect(m.lastUsedAt).toBe(ago(MIN));
    expect(m.days).toEqual([{ day: '2026-03-01', calls: 5 }]);
    expect(m.callers).toEqual([expect.objectContaining({ calls: 5, firstSeenAt: ago(60 * MIN), lastSeenAt: ago(MIN) })]);
    expect(usageCutoffs(now)).toEqual({ day: '2026-01-31', hour: '2026-02-27T13', caller: '2026-01-30T12:00:00.000Z' });
  });

  it('finds a deleted token by id or its latest name (usage reveals no value), a live one first', () => {
    const tokens = [token({ id: 'tok_a', name: 'ci', deletedAt: '2026-02-10T00:00:00.000Z' }), token({ id: 'tok_b', name: 'ci', deletedAt: '2026-02-20T00:00:00.000Z' }), token({ id: 'tok_c', name: 'ci-2' })];
    expect(resolveTokenForUsage(tokens, 'ci').id).toBe('tok_b');
    expect(resolveTokenForUsage(tokens, 'tok_a').id).toBe('tok_a');
    expect(resolveTokenForUsage(tokens, 'CI-2').id).toBe('tok_c');
    expect(() => resolveTokenForUsage(tokens, 'nope')).toThrow(/no token named/);
  });

  it('a local store knows its own retrievals only', () => {
    const u = untrackedUsage('tok_1', [
      { at: ago(120 * MIN), actor: 'os:alice' },
      { at: ago(60 * MIN), actor: 'os:alice' },
      { at: ago(30 * MIN), actor: 'os:bob' },
    ]);
    expect(u).toMatchObject({ tracked: false, lastUsedAt: null, callsPerDay: [] });
    expect(retrievalLine(u, now)).toBe('Retrieved 3 times, last 30 minutes ago by os:bob');
  });

  it('a token the service recorded nothing of is never used; calls per day in one sentence, for a chart', () => {
    expect(usageLine(neverUsed('tok_1'), now)).toBe('Never used');
    expect(retrievalLine(neverUsed('tok_1'), now)).toBeNull();
    expect(callsPerDayText(neverUsed('tok_1'))).toBeNull();
    const u = tokenUsage('tok_1', { lastUsedAt: ago(MIN), days: [{ day: '2026-02-27', calls: 1_390 }, { day: '2026-03-01', calls: 12 }], hours: [], callers: [] }, now);
    expect(callsPerDayText(u)).toBe('Calls per day, 2026-01-31 to 2026-03-01 (UTC): 1,402 in all, at most 1,390 (2026-02-27)');
    expect(callsPerDayText(tokenUsage('tok_1', { lastUsedAt: null, days: [], hours: [], callers: [] }, now))).toBe('Calls per day, 2026-01-31 to 2026-03-01 (UTC): 0 in all');
    // The drain watch's mark on a row is how its sentence starts.
    const presented = tokenUsage('tok_1', { lastUsedAt: ago(MIN), days: [], hours: [], callers: [caller({ drainingCalls: 1, drainingLastSeenAt: ago(MIN) })] }, now);
    expect(drainingUseLine(token({ deletedAt: ago(5 * MIN) }), presented, now)!.startsWith(`${DRAINING_USE_MARK} while draining: `)).toBe(true);
  });
});

describe('webhook deliveries, in words (the CLI and the page)', () => {
  const attempt = { ok: true, status: 204, error: null, at: ago(2 * MIN), ms: 41.4, nextAttemptAt: null };
  it('says where an endpoint stands and what each attempt did', () => {
    expect(lastDeliveryText({ pending: 0, failed: 0, lastAttempt: null }, now)).toBe('nothing sent yet');
    expect(lastDeliveryText({ pending: 2, failed: 0, lastAttempt: null }, now)).toBe('2 pending');
    expect(lastDeliveryText({ pending: 0, failed: 0, lastAttempt: attempt }, now)).toBe('delivered (HTTP 204) 2 minutes ago');
    const failing = { ok: false, status: null, error: 'connection refused', at: ago(5 * MIN), ms: 3, nextAttemptAt: '2026-03-01T12:30:00.000Z' };
    expect(lastDeliveryText({ pending: 1, failed: 1, lastAttempt: failing }, now)).toBe('failed 5 minutes ago: connection refused; retried at 2026-03-01 12:30 UTC (1 pending, 1 failed)');
    expect(attemptResultText(attempt)).toBe('delivered (HTTP 204) in 41 ms');
    expect(attemptResultText(failing)).toBe('connection refused; next 2026-03-01 12:30 UTC');
    expect(attemptResultText({ ...failing, status: 500, error: null, nextAttemptAt: null })).toBe('HTTP 500; given up');
  });

  it('says when each event is sent, for every event', () => {
    expect(Object.keys(NOTIFICATION_WHEN).sort()).toEqual([...NOTIFICATION_TYPES].sort());
    expect(NOTIFICATION_WHEN['token.stale_soon']).toBe('14 days before it turns 180 days old');
  });
});
