import { UsageError } from './errors.js';

/**
 * The event types of the service's signed notifications (core/notifications.ts has the rest of their rules): what the
 * CLI needs to check `webhooks add --event`, without the rest.
 */
export const NOTIFICATION_TYPES = [
  'token.created',
  'token.activated',
  'token.stale_soon',
  'token.stale',
  'token.deleted',
  'token.used_while_draining',
  'token.revoked',
  'rotation.completed',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];
/** What `tokenctl webhooks test` sends: to the endpoint tested only, whatever it subscribed to. */
export const TEST_NOTIFICATION_TYPE = 'webhook.test';
export type AnyNotificationType = NotificationType | typeof TEST_NOTIFICATION_TYPE;

export function isNotificationType(text: string): text is NotificationType {
  return (NOTIFICATION_TYPES as readonly string[]).includes(text);
}

/** The event types an endpoint subscribes to, checked and without repeats (none given: every event). */
export function parseEventTypes(given: readonly string[]): NotificationType[] {
  const out: NotificationType[] = [];
  for (const raw of given.flatMap((g) => g.split(',')).map((g) => g.trim()).filter(Boolean)) {
    if (!isNotificationType(raw)) throw new UsageError(`unknown event '${raw.slice(0, 40)}'; events: ${NOTIFICATION_TYPES.join(', ')}`);
    if (!out.includes(raw)) out.push(raw);
  }
  return out;
}

