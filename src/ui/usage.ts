// What `usage` and `webhooks` draw, at the width they have (a terminal's, else 80): loaded only by those commands.
import type { ChalkInstance } from 'chalk';
import { attemptResultText, lastDeliveryText } from '../core/deliveries.js';
import { formatCount } from '../core/format.js';
import { NOTIFICATION_TYPES } from '../core/notification-types.js';
import { callsPerDayText, drainingUseLine, retrievalLine, usageLine, type TokenUsage } from '../core/usage.js';
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
  const perDay = callsPerDayText(usage);
  if (perDay) {
    out.push('');
    say(perDay);
    const chart = dayChart(usage.callsPerDay);
    out.push(chart.length <= width ? chart : chart.slice(chart.length - width));
  }
  const retrieved = retrievalLine(usage, now);
  if (retrieved) {
    out.push('');
    say(`${retrieved}.`);
  }
  return out.join('\n') + '\n';
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
  const last = { head: 'LAST DELIVERY', cells: rows.map((r) => lastDeliveryText(r.deliveries, now)), fit: 'wrap', min: 20 } as const;
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
  const result = attemptResultText;
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
