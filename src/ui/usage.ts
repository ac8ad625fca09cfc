// What `usage` and `webhooks` draw, at the width they have (a terminal's, else 80): loaded only by those commands.
import type { ChalkInstance } from 'chalk';
import { formatAgo, formatCount, formatInstant } from '../core/format.js';
import { NOTIFICATION_TYPES } from '../core/notification-types.js';
import { drainingUseLine, retrievalLine, usageLine, type TokenUsage } from '../core/usage.js';
import { tokenStatus, type TokenRecord } from '../core/tokens.js';
import { renderFitted, wrapWords, type Column } from './columns.js';
import { safeText } from './sanitize.js';

const BARS = '▁▂▃▄▅▆▇█';

/** One character per day: nothing used ('·'), else a bar from ▁ to █ in proportion to the busiest day. */
export function dayChart(days: readonly { calls: number }[]): string {
  const max = Math.max(0, ...days.map((d) => d.calls));
  return days.map((d) => (d.calls === 0 || max === 0 ? '·' : BARS[Math.min(BARS.length - 1, Math.ceil((d.calls / max) * BARS.length) - 1)]!)).join('');
}

const time = (iso: string) => iso.slice(0, 16).replace('T', ' ');

/**
 * A token's usage for people: the token, the usage line (the one fact before deleting it), the drain watch, who calls
 * it from where (a table), calls per day for 30 days (a chart, one character a day), and who retrieved the value.
 */
export function renderUsage(token: TokenRecord, usage: TokenUsage, now: Date, width: number, style: ChalkInstance): string {
  const out: string[] = [];
  const say = (text: string, paint: (s: string) => string = (s) => s) => out.push(...wrapWords(safeText(text), width).map(paint));
  say(`${token.type} token '${token.name}' (${token.id}), ${tokenStatus(token, now)}`, (s) => (style.level > 0 ? style.bold(s) : s));
  say(`${usageLine(usage, now)}.`);
  const draining = drainingUseLine(token, usage, now);
  if (draining) say(`${draining}.`, (s) => style.red.bold(s));
  const callers = usage.callers.filter((c) => c.kind === 'introspection');
  if (callers.length > 0) {
    const anyDraining = callers.some((c) => c.drainingCalls > 0);
    const columns: Column[] = [
      { head: 'CALLER', cells: callers.map((c) => safeText(c.principalName ?? '(unknown)')), fit: 'cut', min: 10, keep: 'ends' },
      { head: 'ADDRESS', cells: callers.map((c) => safeText(c.address ?? '(unknown)')), fit: 'cut', min: 15 },
      { head: 'CALLS', cells: callers.map((c) => formatCount(c.calls)), fit: 'fixed', align: 'right' },
      ...(anyDraining ? [{ head: 'DRAINING', cells: callers.map((c) => (c.drainingCalls > 0 ? formatCount(c.drainingCalls) : '')), fit: 'fixed' as const, align: 'right' as const }] : []),
      { head: 'LAST SEEN (UTC)', cells: callers.map((c) => time(c.lastSeenAt)), fit: 'fixed' },
    ];
    out.push('', renderFitted([{ columns }], width, { paintHead: (t) => (style.level > 0 ? style.bold(t) : t) }).trimEnd());
  }
  if (usage.tracked && usage.callsPerDay.length > 0) {
    const days = usage.callsPerDay;
    const busiest = days.reduce((m, d) => (d.calls > m.calls ? d : m), days[0]!);
    const total = days.reduce((n, d) => n + d.calls, 0);
    out.push('');
    say(
      `Calls per day, ${days[0]!.day} to ${days.at(-1)!.day} (UTC): ${formatCount(total)} in all` + (busiest.calls > 0 ? `, at most ${formatCount(busiest.calls)} (${busiest.day})` : ''),
    );
    const chart = dayChart(days);
    out.push(chart.length <= width ? chart : chart.slice(chart.length - width));
  }
  const retrieved = retrievalLine(usage, now);
  if (retrieved) {
    out.push('');
    say(`${retrieved}.`);
  }
  return out.join('\n') + '\n';
}

/** "ok (HTTP 204) 2 minutes ago", "failing: connection refused, 5 minutes ago; next 10:35 UTC", "never attempted". */
function lastDelivery(w: { deliveries: { pending: number; failed: number; lastAttempt: { ok: boolean; status: number | null; error: string | null; at: string; nextAttemptAt: string | null } | null } }, now: Date): string {
  const a = w.deliveries.lastAttempt;
  const queue = [w.deliveries.pending > 0 ? `${w.deliveries.pending} pending` : '', w.deliveries.failed > 0 ? `${w.deliveries.failed} failed` : ''].filter(Boolean).join(', ');
  if (!a) return queue || 'nothing sent yet';
  const ago = formatAgo(now.getTime() - Date.parse(a.at));
  const result = a.ok ? `ok (HTTP ${a.status}) ${ago}` : `failed ${ago}: ${a.error ?? `HTTP ${a.status}`}${a.nextAttemptAt ? `; retried at ${formatInstant(a.nextAttemptAt)}` : ''}`;
  return queue ? `${result} (${queue})` : result;
}

export interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  description: string;
  deliveries: { pending: number; failed: number; delivered: number; lastAttempt: { ok: boolean; status: number | null; error: string | null; at: string; nextAttemptAt: string | null } | null };
}

/** The account's endpoints: one row each, the URL cut in its middle when it must be, the last delivery word-wrapped. */
export function renderWebhooks(rows: readonly WebhookRow[], now: Date, width: number, style: ChalkInstance): string {
  if (rows.length === 0) return 'No webhook endpoints. Add one with: tokenctl webhooks add <https://url>\n';
  const id = { head: 'ID', cells: rows.map((r) => r.id), fit: 'fixed' } as const;
  const url = { head: 'URL', cells: rows.map((r) => safeText(r.url)), fit: 'cut', min: 24, keep: 'ends' } as const;
  const events = { head: 'EVENTS', cells: rows.map((r) => (r.events.length === 0 ? 'all' : r.events.join(' '))), fit: 'wrap', min: 12 } as const;
  // Narrower: how many of the events ("2 of 8"), when their names do not fit.
  const eventCount = { head: 'EVENTS', cells: rows.map((r) => (r.events.length === 0 ? 'all' : `${r.events.length} of ${NOTIFICATION_TYPES.length}`)), fit: 'fixed' } as const;
  const last = { head: 'LAST DELIVERY', cells: rows.map((r) => lastDelivery(r, now)), fit: 'wrap', min: 20 } as const;
  return renderFitted(
    [{ columns: [id, url, events, last] }, { columns: [id, url, eventCount, last] }, { columns: [id, url, last] }],
    width,
    {
      stackIndent: 4,
      notes: { column: 1, lines: rows.map((r) => (r.description ? [safeText(r.description)] : [])) },
      paintHead: (t) => (style.level > 0 ? style.bold(t) : t),
    },
  );
}

/** The delivery log: one attempt per line. */
export function renderAttempts(
  attempts: readonly { messageId: string; type: string; attempt: number; at: string; ok: boolean; status: number | null; error: string | null; ms: number; nextAttemptAt: string | null }[],
  width: number,
  style: ChalkInstance,
): string {
  if (attempts.length === 0) return 'No delivery attempts yet.\n';
  const result = (a: (typeof attempts)[number]) =>
    a.ok ? `ok (HTTP ${a.status}) in ${Math.round(a.ms)} ms` : `${a.error ?? `HTTP ${a.status}`}${a.nextAttemptAt ? `; next ${formatInstant(a.nextAttemptAt)}` : '; given up'}`;
  return renderFitted(
    [
      {
        columns: [
          { head: 'TIME (UTC)', cells: attempts.map((a) => time(a.at)), fit: 'fixed' },
          { head: 'EVENT', cells: attempts.map((a) => a.type), fit: 'fixed' },
          { head: '#', cells: attempts.map((a) => String(a.attempt)), fit: 'fixed', align: 'right' },
          { head: 'RESULT', cells: attempts.map(result), fit: 'wrap', min: 20 },
          { head: 'ID', cells: attempts.map((a) => a.messageId), fit: 'fixed' },
        ],
      },
      {
        columns: [
          { head: 'TIME (UTC)', cells: attempts.map((a) => time(a.at)), fit: 'fixed' },
          { head: 'EVENT', cells: attempts.map((a) => a.type), fit: 'fixed' },
          { head: '#', cells: attempts.map((a) => String(a.attempt)), fit: 'fixed', align: 'right' },
          { head: 'RESULT', cells: attempts.map(result), fit: 'wrap', min: 20 },
        ],
      },
    ],
    width,
    { stackIndent: 4, paint: (head, row, text) => (head === 'RESULT' && !attempts[row]!.ok ? style.red(text) : text), paintHead: (t) => (style.level > 0 ? style.bold(t) : t) },
  );
}
