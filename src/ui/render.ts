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

const date = (iso: string | null) => (iso ? iso.slice(0, 10) : '—');

/** The short status for a narrow table: "pending 30m", "draining 12m", "draining, never active". */
function shortStatusText(v: TokenView, now: Date): string {
  switch (v.status) {
    case 'pending':
      return `pending ${formatDuration(Date.parse(v.activatesAt) - now.getTime())}`;
    case 'draining':
      return deletedWhilePending(v) ? 'draining, never active' : `draining ${formatDuration(Date.parse(v.rejectedAt!) - now.getTime())}`;
    default:
      return v.status;
  }
}

function colorStatus(v: TokenView, text: string, style: ChalkInstance): string {
  return v.status === 'active' ? style.green(text) : v.status === 'pending' ? style.yellow(text) : style.dim(text);
}

export interface TableOptions {
  /** The terminal's width in columns; the table never exceeds it. */
  width: number;
  /** Whether the backend can know when a token was last used: only then is there a LAST USED column. */
  tracksUsage: boolean;
}

interface Column {
  head: string;
  /** Plain text of the cell (widths are measured on it), and how it is coloured. */
  text(v: TokenView): string;
  paint?(v: TokenView, text: string): string;
}

/** The widest a table may be when the terminal's width is unknown. */
export const DEFAULT_TABLE_WIDTH = 80;
const GAP = '  ';
const MIN_NAME = 8;

const width = (s: string) => [...s].length;
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - width(s)));
const truncate = (s: string, n: number) => (width(s) <= n ? s : [...s].slice(0, Math.max(1, n - 1)).join('') + '…');

/**
 * The human table (only on a terminal): one line per token, columns separated by spaces, no rules between rows, at
 * most `width` columns wide. When it does not fit, it gives up, in this order (README, "Commands"): the CREATED
 * column (AGE says as much), the ID column (names work everywhere ids do), the VALUE column (masked, it only helps
 * to tell tokens apart), the details of STATUS ("pending 30m" instead of "pending (active in 30m)"), the LAST USED
 * column, the AGE column; then long names
 * are cut with "…". NAME, TYPE and STATUS always stay.
 */
export async function renderTokenTable(views: readonly TokenView[], now: Date, style: ChalkInstance, options: TableOptions = { width: DEFAULT_TABLE_WIDTH, tracksUsage: false }): Promise<string> {
  if (views.length === 0) return 'No tokens. Create one with: tokenctl create --type api --name <name>\n';
  const stale = (v: TokenView) => (v.stale ? ' STALE' : '');
  const status = (short: boolean): Column => ({
    head: 'STATUS',
    text: (v) => (short ? shortStatusText(v, now) : statusText(v, now)) + stale(v),
    paint: (v, text) => {
      const plain = text.slice(0, text.length - stale(v).length);
      const rest = text.slice(plain.length);
      return colorStatus(v, plain, style) + (v.stale ? rest.replace('STALE', style.red.bold('STALE')) : rest);
    },
  });
  const columns: Record<string, Column> = {
    name: { head: 'NAME', text: (v) => safeText(v.name) },
    type: { head: 'TYPE', text: (v) => v.type },
    status: status(false),
    age: { head: 'AGE', text: (v) => `${v.ageDays}d` },
    created: { head: 'CREATED', text: (v) => date(v.createdAt) },
    lastUsed: { head: 'LAST USED', text: (v) => (v.lastUsedAt ? date(v.lastUsedAt) : 'never') },
    value: { head: 'VALUE', text: (v) => safeText(v.masked) },
    id: { head: 'ID', text: (v) => v.id },
  };
  let keys = ['name', 'type', 'status', 'age', 'created', ...(options.tracksUsage ? ['lastUsed'] : []), 'value', 'id'];
  const layout = () => keys.map((k) => Math.max(width(columns[k]!.head), ...views.map((v) => width(columns[k]!.text(v)))));
  const total = (ws: number[]) => ws.reduce((a, b) => a + b, 0) + GAP.length * (ws.length - 1);
  const steps: (() => void)[] = [
    () => (keys = keys.filter((k) => k !== 'created')),
    () => (keys = keys.filter((k) => k !== 'id')),
    () => (keys = keys.filter((k) => k !== 'value')),
    () => (columns.status = status(true)),
    () => (keys = keys.filter((k) => k !== 'lastUsed')),
    () => (keys = keys.filter((k) => k !== 'age')),
  ];
  let widths = layout();
  for (const step of steps) {
    if (total(widths) <= options.width) break;
    step();
    widths = layout();
  }
  // Still too wide: only names can be cut (the other columns are short and fixed).
  const over = total(widths) - options.width;
  if (over > 0) widths[0] = Math.max(MIN_NAME, widths[0]! - over);
  const line = (cells: string[], paint: (i: number, text: string, padded: string) => string) =>
    cells
      .map((text, i) => {
        const cut = i === 0 ? truncate(text, widths[0]!) : text;
        return paint(i, cut, i === cells.length - 1 ? cut : pad(cut, widths[i]!));
      })
      .join(GAP)
      .trimEnd() + '\n';
  const head = line(keys.map((k) => columns[k]!.head), (_i, _t, padded) => (style.level > 0 ? style.bold(padded) : padded));
  const rows = views.map((v) =>
    line(
      keys.map((k) => columns[k]!.text(v)),
      (i, text, padded) => {
        const paint = columns[keys[i]!]!.paint;
        return paint ? paint(v, text) + padded.slice(text.length) : padded;
      },
    ),
  );
  return head + rows.join('');
}

function cell(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

/** CSV (RFC 4180). Text cells that a spreadsheet would run as a formula are prefixed with ' (OWASP). */
export function renderCsv<T extends object>(rows: readonly T[], fields: readonly (keyof T & string)[]): string {
  const esc = (raw: unknown) => {
    let s = safeText(cell(raw));
    if (typeof raw === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [fields.join(','), ...rows.map((r) => fields.map((f) => esc(r[f])).join(','))].join('\n') + '\n';
}

/** Tab-separated lines without a header: what `list` prints to a pipe unless asked for a format. */
export function renderTsv<T extends object>(rows: readonly T[], fields: readonly (keyof T & string)[]): string {
  return rows.map((r) => fields.map((f) => safeText(cell(r[f])).replace(/\t/g, ' ')).join('\t') + '\n').join('');
}
