import type { Clock } from '../../core/clock.js';
import type { IndexedToken, ServiceStorage } from '../../storage/service-port.js';
import { destinationPolicy, type DestinationPolicy } from './destination.js';
import { LifecycleNotices, WebhookDispatcher } from './dispatcher.js';
import { Outbox } from './outbox.js';
import type { Attempt, AttemptResult } from './sender.js';
import { Webhooks } from './webhooks.js';

export type { WebhookView } from './webhooks.js';
export { Outbox } from './outbox.js';

export interface NotificationOptions {
  /** How often due deliveries are looked for (default 1 s; 0: only when asked, or after a commit that enqueued some). */
  everyMs?: number;
  /** How often the time-based events are looked for (default 30 s; 0: only when asked). */
  lifecycleEveryMs?: number;
  /** One attempt's bound (default 10 s). */
  timeoutMs?: number;
  /** The operator's allowed networks beyond the public internet (`loopback`, `private`, `link-local`, CIDR ranges). */
  allow?: readonly string[];
  /** The real clock for signatures' timestamps (tests). */
  wallClockMs?: () => number;
  /** Sends an attempt (tests). */
  send?: (a: Attempt) => Promise<AttemptResult>;
}

/** The service's notifications: the outbox, its delivery, the time-based events, and the endpoints' use cases. */
export interface Notifications {
  outbox: Outbox;
  webhooks: Webhooks;
  dispatcher: WebhookDispatcher;
  lifecycle: LifecycleNotices;
  policy: DestinationPolicy;
  /** Looks for due time-based events, then delivers everything due (tests; the timers do it otherwise). */
  runOnce(): Promise<{ notices: number; attempts: number }>;
  stop(): Promise<void>;
}

export function createNotifications(
  storage: ServiceStorage,
  tokens: () => Iterable<IndexedToken>,
  clock: Clock,
  options: NotificationOptions,
  onError: (error: unknown) => void,
): Notifications {
  const policy = destinationPolicy(options.allow ?? []);
  let dispatcher: WebhookDispatcher | null = null;
  const outbox = new Outbox(clock, () => dispatcher?.nudge());
  dispatcher = new WebhookDispatcher({
    storage,
    sealer: storage.serverSealer,
    clock,
    policy,
    everyMs: options.everyMs ?? 1_000,
    timeoutMs: options.timeoutMs,
    wallClockMs: options.wallClockMs,
    send: options.send,
    onError,
  });
  const lifecycle = new LifecycleNotices({ storage, tokens, clock, build: outbox.notices, everyMs: options.lifecycleEveryMs ?? 30_000, enqueued: () => dispatcher.nudge(), onError });
  const d = dispatcher;
  return {
    outbox,
    webhooks: new Webhooks(storage, outbox, policy, clock),
    dispatcher: d,
    lifecycle,
    policy,
    async runOnce() {
      const notices = (await lifecycle.runOnce()).length;
      return { notices, attempts: await d.runOnce() };
    },
    async stop() {
      lifecycle.stop();
      await d.stop();
    },
  };
}
