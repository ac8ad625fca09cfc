import type { AuditEntry } from './audit.js';
import { UsageError } from './errors.js';
import { looksLikeTokenValue, UNSAFE_CHARACTERS } from './names.js';
import { TEST_NOTIFICATION_TYPE, type AnyNotificationType, type NotificationType } from './notification-types.js';
import type { RotationRecord } from './rotation.js';
import { activeFromCreation, deletedWhilePending, POLICY, rejectedAtOf, rotateByOf, tokenStatus, type TokenRecord, type TokenType } from './tokens.js';
import type { UsageCaller } from './usage.js';

/**
 * Signed notifications of a token's life (Standard Webhooks): which events there are, when each is due, what each
 * says, and how often a delivery is retried. Pure: the service's outbox stores and sends what these build. A payload
 * never carries a token value (nor its masked form): ids, names, types and times only.
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export { isNotificationType, NOTIFICATION_TYPES, parseEventTypes, TEST_NOTIFICATION_TYPE, type AnyNotificationType, type NotificationType } from './notification-types.js';

export const NOTIFY = {
  /** token.stale_soon comes this many days before the spec's 180. */
  staleSoonDays: 14,
  /** A time-based event whose moment passed longer ago than this (the service was down, or not yet upgraded) is not sent late. */
  horizonMs: DAY,
  /**
   * Delays between attempts after the first, which is made at once: about 27.5 hours of retries in all (Standard
   * Webhooks' own schedule), so a receiver down for a day still gets everything.
   */
  retryDelaysMs: [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR] as readonly number[],
  /** One attempt may take this long, connection included. */
  timeoutMs: 10 * SECOND,
  /** What is read of a receiver's answer, at most (the rest is dropped). */
  maxResponseBytes: 64 * 1024,
  /** Endpoints per account. */
  maxEndpoints: 10,
  /** The longest URL an endpoint may have. */
  maxUrlLength: 2_048,
} as const;

/** When each event is sent, for people choosing which to receive (the README's table says the same). */
export const NOTIFICATION_WHEN: Readonly<Record<NotificationType, string>> = {
  'token.created': 'a token was created (a replacement too)',
  'token.activated': 'its pending time is over: now put it in place',
  'token.stale_soon': `${NOTIFY.staleSoonDays} days before it turns ${POLICY.staleAfterDays} days old`,
  'token.stale': `it is ${POLICY.staleAfterDays} days old`,
  'token.deleted': 'it was deleted',
  'token.used_while_draining': 'a deleted token was presented during its drain (once per caller)',
  'token.revoked': 'its drain is over: calls with it are rejected',
  'rotation.completed': 'a rotation deleted its old token',
};

/** An endpoint's description (what it is for, to the admins who read the list): at most 200 characters of plain text. */
export function normalizeWebhookDescription(text: string | undefined): string {
  const d = (text ?? '').trim().normalize('NFC');
  if ([...d].length > 200) throw new UsageError('a webhook description is at most 200 characters');
  if (new RegExp(UNSAFE_CHARACTERS.source, 'u').test(d)) throw new UsageError('a webhook description cannot contain control characters or bidirectional overrides');
  if (looksLikeTokenValue(d)) throw new UsageError('that description looks like a token value; never put values in descriptions');
  return d;
}

/** After `attemptsMade` failed attempts: how long until the next one, or null when the delivery has failed for good. */
export function nextAttemptDelayMs(attemptsMade: number): number | null {
  return NOTIFY.retryDelaysMs[attemptsMade - 1] ?? null;
}

/** Whether an endpoint that subscribed to `events` (none: every event) gets a notification of `type`. */
export function subscribes(events: readonly string[], type: AnyNotificationType): boolean {
  return type === TEST_NOTIFICATION_TYPE || events.length === 0 || events.includes(type);
}

/** A notification to enqueue: its type and what it says (the account and time are added by notificationBody). */
export interface NotificationDraft {
  type: AnyNotificationType;
  data: Record<string, unknown>;
}

/** What a payload says of a token: never its value. */
export interface TokenFacts {
  id: string;
  name: string;
  type: TokenType;
  status: string;
  createdAt: string;
  activatesAt: string;
  deletedAt: string | null;
  rejectedAt: string | null;
  rotateBy: string;
}

export function tokenFacts(t: TokenRecord, now: Date): TokenFacts {
  return {
    id: t.id,
    name: t.name,
    type: t.type,
    status: tokenStatus(t, now),
    createdAt: t.createdAt,
    activatesAt: t.activatesAt,
    deletedAt: t.deletedAt,
    rejectedAt: rejectedAtOf(t),
    rotateBy: rotateByOf(t),
  };
}

/** The notifications a change's audit entries stand for, read from the account as the change left it. */
export function changeNotifications(
  entries: readonly AuditEntry[],
  state: { tokens: readonly TokenRecord[]; rotations: readonly RotationRecord[] },
  ctx: { actor: string; now: Date },
): NotificationDraft[] {
  const token = (id: string | undefined) => (id === undefined ? undefined : state.tokens.find((t) => t.id === id));
  const drafts: NotificationDraft[] = [];
  for (const e of entries) {
    const t = token(e.token?.id);
    if (e.action === 'token.create' && t) {
      drafts.push({ type: 'token.created', data: { token: tokenFacts(t, ctx.now), actor: ctx.actor } });
    } else if (e.action === 'token.delete' && t) {
      drafts.push({ type: 'token.deleted', data: { token: tokenFacts(t, ctx.now), actor: ctx.actor, neverActive: deletedWhilePending(t) } });
    } else if (e.action === 'rotation.complete') {
      const r = state.rotations.find((x) => x.id === e.detail?.rotation);
      const old = token(r?.oldTokenId);
      const replacement = token(r?.newTokenId);
      if (r && old && replacement) {
        drafts.push({
          type: 'rotation.completed',
          data: {
            rotation: { id: r.id, startedAt: r.startedAt, completedAt: r.completedAt },
            old: tokenFacts(old, ctx.now),
            replacement: tokenFacts(replacement, ctx.now),
            actor: ctx.actor,
          },
        });
      }
    }
  }
  return drafts;
}

// ---- events that come with time, by the service's clock ----------------------------------------------------------

export const LIFECYCLE_NOTICES = ['activated', 'stale_soon', 'stale', 'revoked'] as const;
export type LifecycleNotice = (typeof LIFECYCLE_NOTICES)[number];

export const LIFECYCLE_TYPES: Readonly<Record<LifecycleNotice, NotificationType>> = {
  activated: 'token.activated',
  stale_soon: 'token.stale_soon',
  stale: 'token.stale',
  revoked: 'token.revoked',
};

type Times = Pick<TokenRecord, 'createdAt' | 'activatesAt' | 'deletedAt'>;

/**
 * When a time-based event of a token happens (epoch ms), or null when it never does: activated when its pending time
 * is over (not for a token usable at once, nor one deleted meanwhile); stale_soon 14 days before the 180; stale at 180
 * (live tokens only); revoked when a deleted token's drain is over.
 */
export function noticeMoment(t: Times, notice: LifecycleNotice): number | null {
  const created = Date.parse(t.createdAt);
  switch (notice) {
    case 'activated':
      return activeFromCreation(t) || t.deletedAt !== null ? null : Date.parse(t.activatesAt);
    case 'stale_soon':
      return t.deletedAt !== null ? null : created + (POLICY.staleAfterDays - NOTIFY.staleSoonDays) * DAY;
    case 'stale':
      return t.deletedAt !== null ? null : created + POLICY.staleAfterDays * DAY;
    case 'revoked':
      return t.deletedAt === null ? null : Date.parse(t.deletedAt) + POLICY.drainMs;
  }
}

/** The time-based events of a token due at `now`: their moment has passed, less than NOTIFY.horizonMs ago. */
export function dueLifecycleNotices(t: Times, now: Date): { notice: LifecycleNotice; at: number }[] {
  const n = now.getTime();
  const due: { notice: LifecycleNotice; at: number }[] = [];
  for (const notice of LIFECYCLE_NOTICES) {
    const at = noticeMoment(t, notice);
    if (at !== null && at <= n && n - at < NOTIFY.horizonMs) due.push({ notice, at });
  }
  return due;
}

export function lifecycleNotification(notice: LifecycleNotice, t: TokenRecord, now: Date): NotificationDraft {
  const data: Record<string, unknown> = { token: tokenFacts(t, now) };
  if (notice === 'stale_soon') data.staleAt = rotateByOf(t);
  return { type: LIFECYCLE_TYPES[notice], data };
}

/** A deleted token presented during its drain, by this caller (a system that has not switched yet). */
export function drainingUseNotification(t: TokenRecord, caller: Pick<UsageCaller, 'principalId' | 'principalName' | 'address' | 'drainingLastSeenAt'>, now: Date): NotificationDraft {
  return {
    type: 'token.used_while_draining',
    data: {
      token: tokenFacts(t, now),
      caller: { principal: caller.principalId === null ? null : { id: caller.principalId, name: caller.principalName }, address: caller.address },
      at: caller.drainingLastSeenAt,
    },
  };
}

export function testNotification(endpointId: string): NotificationDraft {
  return { type: TEST_NOTIFICATION_TYPE, data: { endpoint: { id: endpointId }, message: 'a test notification from tokenctl (tokenctl webhooks test)' } };
}

/** The body every attempt of a notification sends, the same bytes each time (Standard Webhooks: type, timestamp, data). */
export function notificationBody(draft: NotificationDraft, accountId: string, at: Date): string {
  return JSON.stringify({ type: draft.type, timestamp: at.toISOString(), data: { account: { id: accountId }, ...draft.data } });
}
