import { formatAgo, formatInstant } from './format.js';

/**
 * Where a webhook endpoint's deliveries stand, in words, as `tokenctl webhooks list|log` and the Tokens page's Webhooks
 * pages say it. Pure.
 */

/** One attempt to deliver a notification to an endpoint (the delivery log's line). */
export interface DeliveryAttempt {
  ok: boolean;
  status: number | null;
  error: string | null;
  at: string;
  ms: number;
  /** When the next attempt is due (ISO); null: delivered, or given up. */
  nextAttemptAt: string | null;
}

/** An endpoint's deliveries: how many are pending or failed for good, and the last attempt. */
export interface DeliveryState {
  pending: number;
  failed: number;
  lastAttempt: Omit<DeliveryAttempt, 'ms'> | null;
}

/** "delivered (HTTP 204) 2 minutes ago", "failed 5 minutes ago: connection refused; retried at 2026-03-01 10:35 UTC (1 pending)", "nothing sent yet". */
export function lastDeliveryText(d: DeliveryState, now: Date): string {
  const a = d.lastAttempt;
  const queue = [d.pending > 0 ? `${d.pending} pending` : '', d.failed > 0 ? `${d.failed} failed` : ''].filter(Boolean).join(', ');
  if (!a) return queue || 'nothing sent yet';
  const ago = formatAgo(now.getTime() - Date.parse(a.at));
  const result = a.ok ? `delivered (HTTP ${a.status}) ${ago}` : `failed ${ago}: ${a.error ?? `HTTP ${a.status}`}${a.nextAttemptAt ? `; retried at ${formatInstant(a.nextAttemptAt)}` : ''}`;
  return queue ? `${result} (${queue})` : result;
}

/** One attempt's result: "delivered (HTTP 204) in 41 ms", "HTTP 500; next 2026-03-01 10:35 UTC", "connection refused; given up". */
export function attemptResultText(a: DeliveryAttempt): string {
  return a.ok ? `delivered (HTTP ${a.status}) in ${Math.round(a.ms)} ms` : `${a.error ?? `HTTP ${a.status}`}${a.nextAttemptAt ? `; next ${formatInstant(a.nextAttemptAt)}` : '; given up'}`;
}
