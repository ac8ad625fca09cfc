// The tables of `audit` and `log` on a terminal (the width it has), loaded only when one is drawn: into a pipe or a
// file, those commands print their plain lines and never load this.
import type { ChalkInstance } from 'chalk';
import type { AuditEvent, AuditReport, Finding } from '../core/audit.js';
import { renderFitted, wrapWords, type Column } from './columns.js';
import { safeText } from './sanitize.js';

/**
 * The review on a terminal: at most `width` columns. Each finding is one line (its detail word-wrapped in the DETAIL
 * column, long names cut with "…"), and the command that fixes it on the next line, whole; when the columns do not
 * fit, the detail goes under the finding's line.
 */
export function renderAuditTable(report: AuditReport, width: number, style: ChalkInstance): string {
  const title = wrapWords(`Security review as of ${report.asOf.slice(0, 16).replace('T', ' ')} UTC (stale at ${report.maxAgeDays} days, soon within ${report.withinDays})`, width);
  const verdict = wrapWords(report.verdict, width).map((l) => (report.ok ? style.green(l) : style.red.bold(l)));
  if (report.findings.length === 0) return [...title, 'No findings.', '', ...verdict].join('\n') + '\n';
  const f = report.findings;
  const severity = (x: Finding) => (x.severity === 'critical' ? 'CRITICAL' : x.severity === 'warning' ? 'WARNING' : 'info');
  const paintSeverity = (x: Finding, text: string) => (x.severity === 'critical' ? style.red.bold(text) : x.severity === 'warning' ? style.yellow(text) : style.dim(text));
  const table = renderFitted(
    [
      {
        columns: [
          { head: 'SEVERITY', cells: f.map(severity), fit: 'fixed' },
          { head: 'FINDING', cells: f.map((x) => x.kind), fit: 'fixed' },
          { head: 'TOKEN', cells: f.map((x) => safeText(x.name)), fit: 'cut', min: 12, keep: 'ends' },
          { head: 'TYPE', cells: f.map((x) => x.type), fit: 'fixed' },
          { head: 'DETAIL', cells: f.map((x) => safeText(x.message)), fit: 'wrap', min: 32 },
        ],
      },
    ],
    width,
    {
      stackIndent: 10,
      notes: { column: 4, lines: f.map((x) => (x.action === 'none' ? [] : [`→ ${safeText(x.action)}`])) },
      paint: (head, row, text) => (head === 'SEVERITY' ? paintSeverity(f[row]!, text) : text),
      paintHead: (t) => (style.level > 0 ? style.bold(t) : t),
    },
  );
  return [...title, table.trimEnd(), '', ...verdict].join('\n') + '\n';
}

/**
 * The trail on a terminal: one line per event, at most `width` columns, the details word-wrapped in their column.
 * When it does not fit, it gives up, in this order: the token's ID column (its name and type stay), the seconds of
 * the time, then the DETAIL column goes under each event; actor and token names are cut with "…" before that.
 */
export function renderEventTable(events: readonly (AuditEvent & { description: string })[], width: number, style: ChalkInstance): string {
  const column = (head: string, cells: string[], fit: Column['fit'], extra: Partial<Column> = {}): Column => ({ head, cells, fit, ...extra });
  const seq = column('SEQ', events.map((e) => String(e.seq)), 'fixed', { align: 'right' });
  const time = (seconds: boolean) => column('TIME (UTC)', events.map((e) => e.at.slice(0, seconds ? 19 : 16).replace('T', ' ')), 'fixed');
  const actor = column('ACTOR', events.map((e) => safeText(e.actor)), 'cut', { min: 8 });
  const action = column('ACTION', events.map((e) => e.action), 'fixed');
  const token = column('TOKEN', events.map((e) => (e.token ? safeText(e.token.name) : '')), 'cut', { min: 12, keep: 'ends' });
  const type = column('TYPE', events.map((e) => e.token?.type ?? ''), 'fixed');
  const id = column('ID', events.map((e) => e.token?.id ?? ''), 'fixed');
  const detail = column('DETAIL', events.map((e) => safeText(e.description)), 'wrap', { min: 24 });
  return renderFitted(
    [
      { columns: [seq, time(true), actor, action, token, type, id, detail] },
      { columns: [seq, time(true), actor, action, token, type, detail] },
      { columns: [seq, time(false), actor, action, token, type, detail] },
    ],
    width,
    { stackIndent: 6, paintHead: (t) => (style.level > 0 ? style.bold(t) : t) },
  );
}

