import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { parseInstant } from '../core/clock.js';
import { StoreDataError, UsageError } from '../core/errors.js';
import { nameKey } from '../core/names.js';
import type { AuditEvent } from '../core/audit.js';
import { terminalColumns } from '../ui/io.js';
import { DEFAULT_TABLE_WIDTH, renderJson, renderTsv } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { examples, globalsOf } from './shared.js';

function instant(value: string | undefined, flag: string): Date | null {
  if (value === undefined) return null;
  const d = parseInstant(value);
  if (!d) throw new UsageError(`${flag} '${value}' is not an ISO-8601 date; use e.g. 2026-11-01 or 2026-11-01T09:00:00Z`);
  return d;
}

function describe(e: AuditEvent): string {
  const d = e.detail ?? {};
  switch (e.action) {
    case 'token.rename':
      return `renamed '${d.from}' to '${d.to}'`;
    case 'rotation.start':
      return `rotation ${d.rotation} started, replacement ${d.replacement}`;
    case 'rotation.deliver':
      return `rotation ${d.rotation}: new value delivered via ${d.via}`;
    case 'rotation.complete':
      return `rotation ${d.rotation} completed`;
    case 'rotation.abandon':
      return `rotation ${d.rotation} abandoned: ${d.reason}`;
    case 'account.init':
      return `account '${d.name}' (${d.account}) created`;
    case 'account.signing-key':
      return `new API tokens signed with ${d.alg} (key ${d.kid}; before: ${d.previousAlg}, key ${d.previousKid}, still verifies)`;
    case 'webhook.add':
      return `webhook ${d.endpoint} added: ${d.url}`;
    case 'webhook.remove':
      return `webhook ${d.endpoint} removed: ${d.url}`;
    default:
      return '';
  }
}

export function registerLog(program: Command, deps: Deps): void {
  const cmd = program
    .command('log')
    .description('the append-only audit trail of every change and retrieval (never values)')
    .option('--verify', 'check that no line was edited, deleted or reordered (exit 9 at the first bad line)')
    .option('--token <name|id>', 'only events of this token (current or former name, or id)')
    .option('--since <date>', 'only events at or after this ISO-8601 date')
    .option('--until <date>', 'only events before this ISO-8601 date')
    .action(async (opts: { verify?: boolean; token?: string; since?: string; until?: string }, self: Command) => {
      const globals = globalsOf(self);
      const since = instant(opts.since, '--since');
      const until = instant(opts.until, '--until');
      const backend = await deps.backend(globals);
      if (opts.verify) {
        const result = await backend.verifyAuditTrail();
        // The verdict is the command's result: stdout, as under --json. A broken trail is also an error (exit 9).
        if (globals.json) deps.io.out(renderJson(result));
        else if (result.ok) deps.io.out(`audit trail intact: ${result.events} events${result.lastAt ? `, the last at ${result.lastAt}` : ''}\n`);
        else deps.io.out(`audit trail NOT intact: line ${result.line}: ${safeText(result.reason)}\n`);
        if (!result.ok) throw new StoreDataError(`audit trail line ${result.line}: ${result.reason}`);
        return;
      }
      let events = await backend.auditEvents();
      if (opts.token !== undefined) {
        const key = nameKey(opts.token.trim());
        const ids = new Set(events.filter((e) => e.token && (e.token.id === opts.token!.trim() || nameKey(e.token.name) === key)).map((e) => e.token!.id));
        events = events.filter((e) => e.token && ids.has(e.token.id));
      }
      if (since) events = events.filter((e) => Date.parse(e.at) >= since.getTime());
      if (until) events = events.filter((e) => Date.parse(e.at) < until.getTime());
      if (globals.json) {
        deps.io.out(renderJson(events));
        return;
      }
      const rows = events.map((e) => ({
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        token: e.token ? `${e.token.name} (${e.token.type}, ${e.token.id})` : '',
        fingerprint: e.fingerprint ? `${e.fingerprint.slice(0, 12)}…` : '',
        detail: describe(e),
      }));
      if (!deps.io.stdoutIsTTY) {
        deps.io.out(renderTsv(rows, ['seq', 'at', 'actor', 'action', 'token', 'fingerprint', 'detail']));
        return;
      }
      if (rows.length === 0) {
        deps.io.out('No events.\n');
        return;
      }
      const width = deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH;
      const { renderEventTable } = await import('../ui/tables.js');
      deps.io.out(renderEventTable(events.map((e) => ({ ...e, description: describe(e) })), width, deps.io.outStyle));
    });
  examples(cmd, ['tokenctl log', 'tokenctl log --token ci-deploy --since 2026-11-01 --json', 'tokenctl log --verify']);
}
