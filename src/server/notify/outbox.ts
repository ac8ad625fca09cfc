import type { AuditEntry } from '../../core/audit.js';
import type { Clock } from '../../core/clock.js';
import {
  changeNotifications,
  drainingUseNotification,
  lifecycleNotification,
  notificationBody,
  subscribes,
  type NotificationDraft,
} from '../../core/notifications.js';
import { randomBase62 } from '../../secrets/opaque.js';
import type { ChangeContext } from '../../storage/port.js';
import type { DrainingUseBuilder, NoticeBuilder, OutboxEntry, ServiceAccountWriter, WebhookEndpointRecord } from '../../storage/service-port.js';
import { toTokenRecord } from '../../tokens/token-service.js';

/**
 * The outbox's entries, built from core/notifications.ts's drafts: one per notification that some endpoint of the
 * account subscribed to, with its id (the same `webhook-id` on every attempt), its exact body, and the endpoints it
 * goes to. Written by the storage in the transaction of what causes it.
 */
export class Outbox {
  constructor(
    private readonly clock: Clock,
    /** Called after a transaction that enqueued something committed: delivery may start at once. */
    private readonly enqueued: () => void = () => undefined,
  ) {}

  static newId(): string {
    return `msg_${randomBase62(24)}`;
  }

  /** The entry of a draft, for the endpoints that subscribed to its type; null when none did. */
  entry(accountId: string, draft: NotificationDraft, endpoints: readonly WebhookEndpointRecord[], now: Date = this.clock.now()): OutboxEntry | null {
    const targets = endpoints.filter((e) => subscribes(e.events, draft.type)).map((e) => e.id);
    if (targets.length === 0) return null;
    this.enqueuedSoon = true;
    return { id: Outbox.newId(), accountId, type: draft.type, body: notificationBody(draft, accountId, now), createdAt: now.toISOString(), endpointIds: targets, dueAtMs: now.getTime() };
  }

  /** Something was enqueued since the last `committed()`. */
  private enqueuedSoon = false;

  /** After a commit: starts delivery when something was enqueued. */
  committed(): void {
    if (!this.enqueuedSoon) return;
    this.enqueuedSoon = false;
    this.enqueued();
  }

  /** The time-based events (token.activated, stale_soon, stale, revoked), by the service's clock. */
  readonly notices: NoticeBuilder = (token, accountId, notice, endpoints) => this.entry(accountId, lifecycleNotification(notice, toTokenRecord(token), this.clock.now()), endpoints);

  /** token.used_while_draining, once per caller first seen presenting the deleted token during its drain. */
  readonly drainingUse: DrainingUseBuilder = (token, accountId, c, endpoints) =>
    this.entry(
      accountId,
      drainingUseNotification(
        toTokenRecord(token),
        { principalId: c.principalId === '' ? null : c.principalId, principalName: c.principalName === '' ? null : c.principalName, address: c.address === '' ? null : c.address, drainingLastSeenAt: c.drainingLastAt },
        this.clock.now(),
      ),
      endpoints,
    );

  /**
   * The account's transaction with notifications: whatever a change records in the audit trail (created, deleted, a
   * rotation completed) is also enqueued for the account's endpoints, in the same transaction, so a change is never
   * committed without its notification, nor notified without being committed.
   */
  withNotifications(tx: ServiceAccountWriter, change: ChangeContext): ServiceAccountWriter {
    const outbox = this;
    const wrapped: ServiceAccountWriter = Object.create(tx);
    wrapped.audit = async (entries: readonly AuditEntry[]) => {
      await tx.audit(entries);
      if (!entries.some((e) => e.action === 'token.create' || e.action === 'token.delete' || e.action === 'rotation.complete')) return;
      const endpoints = await tx.webhookEndpoints();
      if (endpoints.length === 0) return;
      const now = new Date(change.at);
      const [tokens, rotations] = await Promise.all([tx.tokens(), tx.rotations()]);
      const drafts = changeNotifications(entries, { tokens: tokens.map(toTokenRecord), rotations }, { actor: change.actor, now });
      const queued = drafts.map((d) => outbox.entry(tx.accountId, d, endpoints, now)).filter((e): e is OutboxEntry => e !== null);
      if (queued.length > 0) await tx.enqueueNotifications(queued);
    };
    return wrapped;
  }
}
