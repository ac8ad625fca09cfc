import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { parseInstant } from '../core/clock.js';
import { PolicyViolationError, TokenctlError, UsageError } from '../core/errors.js';
import { reviewTokens, type AuditReport, type Finding } from '../core/audit.js';
import { POLICY } from '../core/tokens.js';
import { terminalColumns } from '../ui/io.js';
import { DEFAULT_TABLE_WIDTH, renderCsv, renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { commandLine, examples, globalsOf, warn } from './shared.js';

const FORMATS = ['table', 'json', 'csv', 'markdown'] as const;
type AuditFormat = (typeof FORMATS)[number];
const FIELDS = ['severity', 'kind', 'name', 'type', 'tokenId', 'ageDays', 'staleAt', 'message', 'action'] as const;

const MAX_DAYS = 36_500; // a century: beyond it, dates stop being dates

function wholeNumber(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > MAX_DAYS) {
    throw new UsageError(`${flag} takes a whole number of days from ${min} to ${MAX_DAYS}, not '${value.slice(0, 20)}'`);
  }
  return n;
}

/** The review into a pipe or a file: as it has always been printed there (scripts and CI logs read it). */
function renderTable(report: AuditReport, style: Deps['io']['style']): string {
  const lines = [`Security review as of ${report.asOf.slice(0, 16).replace('T', ' ')} UTC (stale at ${report.maxAgeDays} days, soon within ${report.withinDays})`];
  const mark = (f: Finding) => (f.severity === 'critical' ? style.red.bold('CRITICAL') : f.severity === 'warning' ? style.yellow('WARNING ') : style.dim('info    '));
  if (report.findings.length === 0) lines.push('No findings.');
  for (const f of report.findings) {
    lines.push(`${mark(f)} ${f.kind.padEnd(19)} ${safeText(f.name).padEnd(20)} ${f.type.padEnd(8)} ${f.message}`);
    if (f.action !== 'none') lines.push(`${' '.repeat(29)}→ ${safeText(f.action)}`);
  }
  lines.push('', report.ok ? style.green(report.verdict) : style.red.bold(report.verdict));
  return lines.join('\n') + '\n';
}

function renderMarkdown(report: AuditReport): string {
  const cell = (s: string) => safeText(s).replace(/\|/g, '\\|');
  const rows = report.findings.map((f) => `| ${f.severity} | ${f.kind} | ${cell(f.name)} | ${f.type} | ${f.ageDays} | ${cell(f.message)} | ${f.action === 'none' ? '—' : `\`${cell(f.action)}\``} |`);
  return [
    `## Token security review (${report.asOf.slice(0, 10)})`,
    '',
    `**${report.verdict}**`,
    '',
    `Stale at ${report.maxAgeDays} days; "soon" means within ${report.withinDays} days; ${report.liveTokens} live tokens reviewed.`,
    '',
    '| severity | finding | token | type | age (days) | detail | next step |',
    '|---|---|---|---|---|---|---|',
    ...(rows.length ? rows : ['| — | no findings | | | | | |']),
    '',
  ].join('\n');
}

export function registerAudit(program: Command, deps: Deps): void {
  const cmd = program
    .command('audit')
    .description('security review: stale and soon-stale tokens, deleted ones still in use, pending and draining ones, unfinished rotations')
    .option('--max-age-days <days>', 'age at which a token is stale', String(POLICY.staleAfterDays))
    .option('--as-of <date>', 'review the account as of this ISO-8601 date (default: now)')
    .option('--within <days>', 'also report tokens that turn stale within this many days', '30')
    .option('--fail-on-stale', 'exit 6 when any token is stale, or deleted but still in use while draining (for CI gates)')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .action(async (opts: { maxAgeDays: string; asOf?: string; within: string; failOnStale?: boolean; format: string }, self: Command) => {
      const globals = globalsOf(self);
      const format = (globals.json ? 'json' : opts.format.trim().toLowerCase()) as AuditFormat;
      if (!FORMATS.includes(format)) throw new UsageError(`unknown format '${opts.format}'; use one of: ${FORMATS.join(', ')}`);
      const maxAgeDays = wholeNumber(opts.maxAgeDays, '--max-age-days', 1);
      const withinDays = wholeNumber(opts.within, '--within', 0);
      const given = opts.asOf === undefined ? null : parseInstant(opts.asOf);
      if (opts.asOf !== undefined && !given) throw new UsageError(`--as-of '${opts.asOf}' is not an ISO-8601 date; use e.g. 2027-01-31 or 2027-01-31T12:00:00Z`);

      const backend = await deps.backend(globals);
      const [tokens, rotations] = await Promise.all([backend.list(), backend.rotations()]);
      // By the backend's clock (a service's, learned from the listing's answer), unless --as-of says otherwise.
      const asOf = given ?? backend.clock.now();
      let events = null;
      try {
        events = await backend.auditEvents();
      } catch (error) {
        if (!(error instanceof TokenctlError)) throw error;
        warn(deps, `the audit trail could not be read (${error.message}); never-retrieved tokens are not reported`);
      }
      // The drain watch: deleted tokens still presented while they drain (a service sees calls; a local store cannot).
      const usage = backend.tracksUsage ? new Map((await backend.usageOverview()).map((u) => [u.tokenId, u])) : null;
      const report = reviewTokens(tokens, rotations, events, { asOf, maxAgeDays, withinDays, command: commandLine(deps, globals), usage });
      if (format === 'json') deps.io.out(renderJson(report));
      else if (format === 'csv') deps.io.out(renderCsv(report.findings, FIELDS));
      else if (format === 'markdown') deps.io.out(renderMarkdown(report));
      else if (deps.io.stdoutIsTTY) {
        const width = deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH;
        const { renderAuditTable } = await import('../ui/tables.js');
        deps.io.out(renderAuditTable(report, width, deps.io.outStyle));
      } else deps.io.out(renderTable(report, deps.io.outStyle));
      if (opts.failOnStale && report.drainingInUse > 0) {
        const names = report.findings.filter((f) => f.kind === 'draining-in-use').map((f) => `'${f.name}'`);
        throw new PolicyViolationError(
          `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} deleted but still in use while draining (--fail-on-stale): what still presents ${names.length === 1 ? 'it' : 'them'} fails when the drain ends; switch it to the replacement (see: tokenctl usage <name>)` +
            (report.stale > 0 ? `; and ${report.stale} stale token${report.stale === 1 ? '' : 's'} (rotate with: tokenctl rotate <name>)` : ''),
        );
      }
      if (opts.failOnStale && report.stale > 0) {
        throw new PolicyViolationError(`${report.stale} stale token${report.stale === 1 ? '' : 's'} found (--fail-on-stale); rotate with: tokenctl rotate <name>`);
      }
    });
  examples(cmd, [
    'tokenctl audit',
    'tokenctl audit --format markdown > review.md',
    'tokenctl audit --as-of 2027-06-01 --within 14 --fail-on-stale   # CI gate',
  ]);
}
