import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../core/format.js';
import { deletedWhilePending, type TokenView } from '../core/tokens.js';
import { safeText } from './sanitize.js';

export const TOKEN_FIELDS = [
  'id',
  'name',
  'type',
  'status',
  'stale',
  'createdAt',
  'activatesAt',
  'deletedAt',
  'rejectedAt',
  'ageDays',
  'rotateBy',
  'lastUsedAt',
  'masked',
] as const satisfies readonly (keyof TokenView)[];

export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function statusText(v: TokenView, now: Date): string {
  switch (v.status) {
    case 'pending':
      return `pending (active in ${formatDuration(Date.parse(v.activatesAt) - now.getTime())})`;
    case 'draining':
      return deletedWhilePending(v) ? 'draining (deleted while pending: never active)' : `draining (rejected in ${formatDuration(Date.parse(v.rejectedAt!) - now.getTime())})`;
    default:
      return v.status;
  }
}

function coloredStatus(v: TokenView, now: Date, style: ChalkInstance): string {
  const text = statusText(v, now);
  const colored =
    v.status === 'active' ? style.green(text) : v.status === 'pending' ? style.yellow(text) : style.dim(text);
  return v.stale ? `${colored} ${style.red.bold('STALE')}` : colored;
}

const date = (iso: string | null) => (iso ? iso.slice(0, 10) : '—');

/** The human table (only on a terminal). cli-table3 is loaded here, not at startup. */
export async function renderTokenTable(views: readonly TokenView[], now: Date, style: ChalkInstance): Promise<string> {
  if (views.length === 0) return 'No tokens. Create one with: tokenctl create --type api --name <name>\n';
  const { default: Table } = await import('cli-table3');
  const table = new Table({
    head: ['NAME', 'TYPE', 'STATUS', 'AGE', 'CREATED', 'LAST USED', 'VALUE', 'ID'],
    style: { head: style.level > 0 ? ['bold'] : [], border: style.level > 0 ? ['grey'] : [] },
  });
  for (const v of views) {
    table.push([
      safeText(v.name),
      v.type,
      coloredStatus(v, now, style),
      `${v.ageDays}d`,
      date(v.createdAt),
      v.lastUsedAt ? date(v.lastUsedAt) : 'unknown',
      safeText(v.masked),
      v.id,
    ]);
  }
  return table.toString() + '\n';
}

function cell(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

/** CSV (RFC 4180). Text cells that a spreadsheet would run as a formula are prefixed with ' (OWASP). */
export function renderCsv(rows: readonly Record<string, unknown>[], fields: readonly string[]): string {
  const esc = (raw: unknown) => {
    let s = safeText(cell(raw));
    if (typeof raw === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [fields.join(','), ...rows.map((r) => fields.map((f) => esc(r[f])).join(','))].join('\n') + '\n';
}

/** Tab-separated lines without a header: what `list` prints to a pipe unless asked for a format. */
export function renderTsv(rows: readonly Record<string, unknown>[], fields: readonly string[]): string {
  return rows.map((r) => fields.map((f) => safeText(cell(r[f])).replace(/\t/g, ' ')).join('\t') + '\n').join('');
}
