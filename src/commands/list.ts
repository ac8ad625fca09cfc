import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { UsageError } from '../core/errors.js';
import { isLive, parseTokenType, sortTokens, toTokenView, POLICY, type TokenRecord, type TokenType, type TokenView } from '../core/tokens.js';
import { replacementAdvice } from '../core/rotation.js';
import { DEFAULT_TABLE_WIDTH, renderCsv, renderJson, renderTokenTable, renderTsv, TOKEN_FIELDS } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { terminalColumns } from '../ui/io.js';
import { commandLine, examples, globalsOf, warn } from './shared.js';

export const LIST_FORMATS = ['table', 'json', 'csv', 'tsv'] as const;
type ListFormat = (typeof LIST_FORMATS)[number];

function parseFormat(value: string | undefined, json: boolean, tty: boolean): ListFormat {
  if (json) return 'json';
  if (value === undefined) return tty ? 'table' : 'tsv';
  // Case does not matter (`--format CSV`), as for --type.
  const v = value.trim().toLowerCase();
  if (!(LIST_FORMATS as readonly string[]).includes(v)) {
    throw new UsageError(`unknown format '${value}'; use one of: ${LIST_FORMATS.join(', ')}`);
  }
  return v as ListFormat;
}

/** The warning for a stale token, with the next step that can work (core/rotation.ts: replacementAdvice). */
export function staleWarning(v: TokenView, advice: string): string {
  return safeText(`${v.type} token '${v.name}' is ${v.ageDays} days old (tokens should be replaced every ${POLICY.staleAfterDays} days); ${advice}`);
}

/**
 * What an empty table says: that there are no tokens at all (and how to make one), or that there are, but none
 * matches the filter given (and how to see them all).
 */
function emptyListing(records: readonly TokenRecord[], opts: { type?: TokenType; stale?: boolean; all?: boolean }, command: (args: string[]) => string): string {
  const shown = records.filter((t) => opts.all || isLive(t));
  const create = `Create one with: ${command(['create', '--type', 'api', '--name'])} <name>`;
  if (records.length === 0) return `No tokens. ${create}`;
  if (shown.length === 0) {
    return `No live tokens (${records.length} deleted: ${command(['list', '--all'])}). ${create}`;
  }
  const filter = [...(opts.type ? [`--type ${opts.type}`] : []), ...(opts.stale ? ['--stale'] : [])].join(' ');
  const all = opts.all ? `${shown.length} token${shown.length === 1 ? '' : 's'} in all, deleted ones included` : `${shown.length} live token${shown.length === 1 ? '' : 's'} in all`;
  return `No token matches ${filter} (${all}; see them with: ${command(opts.all ? ['list', '--all'] : ['list'])}).`;
}

export function registerList(program: Command, deps: Deps): void {
  const cmd = program
    .command('list')
    .alias('ls')
    .description('list live tokens with masked values (never the values themselves)')
    .option('--type <type>', 'only tokens of this type')
    .option('--stale', `only stale tokens (${POLICY.staleAfterDays} days or older)`)
    .option('--all', 'include deleted tokens (draining and revoked)')
    .option('--format <format>', `output format: ${LIST_FORMATS.join(', ')} (default: table on a terminal, tsv otherwise)`)
    .action(async (opts: { type?: string; stale?: boolean; all?: boolean; format?: string }, self: Command) => {
      const globals = globalsOf(self);
      const format = parseFormat(opts.format, globals.json, deps.io.stdoutIsTTY);
      const type = opts.type === undefined ? undefined : parseTokenType(opts.type);
      const backend = await deps.backend(globals);
      const records = await backend.list();
      // After the answer: a service's clock is learned from it.
      const now = backend.clock.now();
      const views = sortTokens(records)
        .filter((t) => opts.all || isLive(t))
        .filter((t) => type === undefined || t.type === type)
        .map((t) => toTokenView(t, now))
        .filter((v) => !opts.stale || v.stale);
      const command = commandLine(deps, globals);
      if (format === 'json') deps.io.out(renderJson(views));
      else if (format === 'csv') deps.io.out(renderCsv(views, TOKEN_FIELDS));
      else if (format === 'tsv') deps.io.out(renderTsv(views, ['id', 'name', 'type', 'status', 'createdAt', 'masked']));
      else if (views.length === 0) deps.io.out(`${safeText(emptyListing(records, { type, stale: opts.stale, all: opts.all }, command))}\n`);
      else deps.io.out(await renderTokenTable(views, now, deps.io.outStyle, { width: deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH, tracksUsage: backend.tracksUsage }));
      const stale = views.filter((v) => v.stale);
      if (stale.length > 0) {
        // The journal is read only when there is something to advise (a rotation under way changes the advice).
        const rotations = await backend.rotations();
        for (const v of stale) {
          const token = records.find((t) => t.id === v.id)!;
          warn(deps, staleWarning(v, replacementAdvice(records, rotations, token, now, command).text));
        }
      }
    });
  examples(cmd, ['tokenctl list', 'tokenctl list --type s2s --json', 'tokenctl list --all --format csv > tokens.csv']);
}
