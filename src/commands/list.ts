import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { UsageError } from '../core/errors.js';
import { isLive, parseTokenType, sortTokens, toTokenView, POLICY, type TokenView } from '../core/tokens.js';
import { DEFAULT_TABLE_WIDTH, renderCsv, renderJson, renderTokenTable, renderTsv, TOKEN_FIELDS } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { terminalColumns } from '../ui/io.js';
import { examples, globalsOf, warn } from './shared.js';

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

export function staleWarning(v: TokenView): string {
  return (
    `${v.type} token '${safeText(v.name)}' is ${v.ageDays} days old (tokens should be replaced every ${POLICY.staleAfterDays} days); ` +
    `replace it safely with: tokenctl rotate ${safeText(v.name)}`
  );
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
      const now = deps.clock.now();
      const views = sortTokens(await backend.list())
        .filter((t) => opts.all || isLive(t))
        .filter((t) => type === undefined || t.type === type)
        .map((t) => toTokenView(t, now))
        .filter((v) => !opts.stale || v.stale);
      if (format === 'json') deps.io.out(renderJson(views));
      else if (format === 'csv') deps.io.out(renderCsv(views as unknown as Record<string, unknown>[], TOKEN_FIELDS));
      else if (format === 'tsv') deps.io.out(renderTsv(views as unknown as Record<string, unknown>[], ['id', 'name', 'type', 'status', 'createdAt', 'masked']));
      else deps.io.out(await renderTokenTable(views, now, deps.io.outStyle, { width: deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH, tracksUsage: backend.tracksUsage }));
      for (const v of views) if (v.stale) warn(deps, staleWarning(v));
    });
  examples(cmd, ['tokenctl list', 'tokenctl list --type s2s --json', 'tokenctl list --all --format csv > tokens.csv']);
}
