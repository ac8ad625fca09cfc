import { auditEntries } from '../../core/audit.js';
import type { Clock } from '../../core/clock.js';
import { TokenctlError, TokenNotFoundError } from '../../core/errors.js';
import { normalizeWebhookDescription, NOTIFY, parseEventTypes, testNotification } from '../../core/notifications.js';
import { randomBase62 } from '../../secrets/opaque.js';
import type { ServiceStorage, WebhookAttemptRecord, WebhookDeliveryStats, WebhookEndpointRecord } from '../../storage/service-port.js';
import { actorOf, type Principal } from '../../tokens/principals.js';
import { checkResolves, checkWebhookUrl, type DestinationPolicy } from './destination.js';
import { webhookSecretAad } from './dispatcher.js';
import type { Outbox } from './outbox.js';
import { newWebhookSecret } from './sender.js';

/** An endpoint as the API and the page show it: never its secret. */
export interface WebhookView {
  id: string;
  url: string;
  /** Empty: every event. */
  events: string[];
  description: string;
  createdAt: string;
  createdBy: string;
  deliveries: { pending: number; failed: number; delivered: number; lastAttempt: WebhookAttemptRecord | null };
}

/** The URL without its query and fragment: what the audit trail records (a receiver's own secret may be in a query). */
const destinationOf = (url: string) => {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
};

function view(e: WebhookEndpointRecord, stats: WebhookDeliveryStats | undefined): WebhookView {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    description: e.description,
    createdAt: e.createdAt,
    createdBy: e.createdBy,
    deliveries: { pending: stats?.pending ?? 0, failed: stats?.failed ?? 0, delivered: stats?.delivered ?? 0, lastAttempt: stats?.lastAttempt ?? null },
  };
}

/**
 * The account's webhook endpoints, managed by its admins through the API (and the Tokens page): added with a `whsec_`
 * secret shown once, listed with where their deliveries stand, removed, tested, and their delivery log read. Adding
 * and removing are recorded in the account's audit trail.
 */
export class Webhooks {
  constructor(
    private readonly storage: ServiceStorage,
    private readonly outbox: Outbox,
    private readonly policy: DestinationPolicy,
    private readonly clock: Clock,
  ) {}

  private change(principal: Principal) {
    return { actor: actorOf(principal), at: this.clock.now().toISOString() };
  }

  async add(principal: Principal, input: { url: string; events?: readonly string[]; description?: string }): Promise<{ webhook: WebhookView; secret: string }> {
    const url = checkWebhookUrl(input.url);
    const events = parseEventTypes(input.events ?? []);
    const description = normalizeWebhookDescription(input.description);
    await checkResolves(url, this.policy);
    const secret = newWebhookSecret();
    const change = this.change(principal);
    const sealer = await this.storage.sealer();
    const record = await this.storage.write(principal.accountId, change, async (tx) => {
      const existing = await tx.webhookEndpoints();
      if (existing.length >= NOTIFY.maxEndpoints) {
        throw new TokenctlError('conflict', `this account already has ${NOTIFY.maxEndpoints} webhook endpoints; remove one first (tokenctl webhooks remove <id>)`);
      }
      const id = `wh_${randomBase62(16)}`;
      const e: WebhookEndpointRecord = {
        id,
        accountId: principal.accountId,
        url: url.href,
        events,
        description,
        secret: sealer.seal(secret, webhookSecretAad(principal.accountId, id)),
        createdAt: change.at,
        createdBy: actorOf(principal),
      };
      await tx.insertWebhookEndpoint(e);
      await tx.audit([auditEntries.webhookAdded(id, destinationOf(e.url))]);
      return e;
    });
    return { webhook: view(record, undefined), secret };
  }

  async list(principal: Principal): Promise<WebhookView[]> {
    const [endpoints, stats] = await Promise.all([this.storage.read(principal.accountId, (tx) => tx.webhookEndpoints()), this.storage.webhookDeliveryStats(principal.accountId)]);
    return endpoints.map((e) => view(e, stats.find((s) => s.endpointId === e.id)));
  }

  private async find(principal: Principal, id: string): Promise<WebhookEndpointRecord> {
    const e = (await this.storage.read(principal.accountId, (tx) => tx.webhookEndpoints())).find((x) => x.id === id.trim());
    if (!e) throw new TokenNotFoundError(`no webhook endpoint '${id.slice(0, 64)}' in this account; see them with: tokenctl webhooks list`);
    return e;
  }

  /** Removes an endpoint: its pending deliveries and its delivery log go with it. */
  async remove(principal: Principal, id: string): Promise<WebhookView> {
    const e = await this.find(principal, id);
    await this.storage.write(principal.accountId, this.change(principal), async (tx) => {
      if (!(await tx.deleteWebhookEndpoint(e.id))) throw new TokenNotFoundError(`no webhook endpoint '${e.id}' in this account; see them with: tokenctl webhooks list`);
      await tx.audit([auditEntries.webhookRemoved(e.id, destinationOf(e.url))]);
    });
    return view(e, undefined);
  }

  /** Sends a `webhook.test` notification to this endpoint only, through the outbox (signed, retried, logged like any). */
  async test(principal: Principal, id: string): Promise<{ messageId: string }> {
    const e = await this.find(principal, id);
    const entry = this.outbox.entry(principal.accountId, testNotification(e.id), [e])!;
    await this.storage.write(principal.accountId, this.change(principal), (tx) => tx.enqueueNotifications([entry]));
    this.outbox.committed();
    return { messageId: entry.id };
  }

  /** The endpoint's delivery log, newest first. */
  async attempts(principal: Principal, id: string, limit = 50): Promise<WebhookAttemptRecord[]> {
    const e = await this.find(principal, id);
    return this.storage.webhookAttempts(principal.accountId, e.id, limit);
  }
}
