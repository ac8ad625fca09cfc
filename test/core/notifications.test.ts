import { describe, expect, it } from 'vitest';
import { auditEntries } from '../../src/core/audit.js';
import {
  changeNotifications,
  dueLifecycleNotices,
  nextAttemptDelayMs,
  normalizeWebhookDescription,
  notificationBody,
  NOTIFY,
  parseEventTypes,
  subscribes,
} from '../../src/core/notifications.js';
import type { TokenRecord } from '../../src/core/tokens.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const t0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(t0 + ms);
const token = (o: Partial<TokenRecord> = {}): TokenRecord => ({
  id: 'tok_1',
  name: 'events',
  type: 's2s',
  createdAt: at(0).toISOString(),
  activatesAt: at(30 * MIN).toISOString(),
  deletedAt: null,
  lastUsedAt: null,
  masked: 'tctl_s2s_…abcd',
  ...o,
});

describe('notifications: what is sent, and when', () => {
  it('time-based events come when their moment passes by the clock given (a drill\'s too), within a day, once each moment', () => {
    const t = token();
    const due = (ms: number) => dueLifecycleNotices(t, at(ms)).map((d) => d.notice);
    expect(due(29 * MIN)).toEqual([]);
    expect(due(30 * MIN)).toEqual(['activated']);
    expect(due(30 * MIN + DAY)).toEqual([]); // missed for a day: not sent late
    expect(due(166 * DAY)).toEqual(['stale_soon']);
    expect(due(180 * DAY + MIN)).toEqual(['stale']);
    // Usable at once: never "activated". Deleted: revoked when its drain is over, and never stale.
    expect(dueLifecycleNotices(token({ activatesAt: at(0).toISOString() }), at(MIN))).toEqual([]);
    const deleted = token({ deletedAt: at(10 * MIN).toISOString() });
    expect(dueLifecycleNotices(deleted, at(39 * MIN)).map((d) => d.notice)).toEqual([]);
    expect(dueLifecycleNotices(deleted, at(40 * MIN)).map((d) => d.notice)).toEqual(['revoked']);
    expect(dueLifecycleNotices(deleted, at(180 * DAY)).map((d) => d.notice)).toEqual([]);
  });

  it('changes are notified from their audit entries, never with a value', () => {
    const created = token();
    const drafts = changeNotifications([auditEntries.tokenCreated({ ...created, fingerprint: 'fp' }, true), auditEntries.tokenRenamed(created, 'x')], { tokens: [created], rotations: [] }, { actor: 'admin:alice (prn_1)', now: at(0) });
    expect(drafts).toEqual([{ type: 'token.created', data: { token: expect.objectContaining({ id: 'tok_1', name: 'events', status: 'pending' }), actor: 'admin:alice (prn_1)' } }]);
    const body = notificationBody(drafts[0]!, 'acc_1', at(0));
    expect(JSON.parse(body)).toEqual({ type: 'token.created', timestamp: '2026-03-01T10:00:00.000Z', data: { account: { id: 'acc_1' }, token: expect.any(Object), actor: 'admin:alice (prn_1)' } });
    expect(body).not.toMatch(/masked|tctl_s2s_|fingerprint|"fp"/);
  });

  it('subscriptions, retries for about 27.5 hours, and what an endpoint may be given', () => {
    expect(subscribes([], 'token.stale')).toBe(true);
    expect(subscribes(['token.deleted'], 'token.stale')).toBe(false);
    expect(subscribes(['token.deleted'], 'webhook.test')).toBe(true);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(nextAttemptDelayMs)).toEqual([...NOTIFY.retryDelaysMs, null]);
    expect(NOTIFY.retryDelaysMs.reduce((a, b) => a + b, 0)).toBeGreaterThan(DAY);
    expect(parseEventTypes(['token.deleted,token.stale', 'token.deleted'])).toEqual(['token.deleted', 'token.stale']);
    expect(() => parseEventTypes(['token.nope'])).toThrow(/unknown event 'token.nope'; events: token.created/);
    expect(normalizeWebhookDescription('  pager ')).toBe('pager');
    expect(() => normalizeWebhookDescription('a\u001b[31mred')).toThrow(/control characters/);
    expect(() => normalizeWebhookDescription(`tctl_s2s_${'a'.repeat(34)}`)).toThrow(/looks like a token value/);
  });
});
