import { Option, type Command } from 'commander';
import type { Deps } from '../deps.js';
import { PolicyViolationError, UsageError } from '../core/errors.js';
import { terminalColumns } from '../ui/io.js';
import { DEFAULT_TABLE_WIDTH } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { examples, globalsOf, info, warn } from './shared.js';

export const SCAN_FORMATS = ['table', 'json', 'sarif'] as const;

interface ScanOptions {
  staged?: boolean;
  stdin?: boolean;
  format?: (typeof SCAN_FORMATS)[number];
}

/** --format, ignoring case (`--format SARIF`), as --type does. */
function parseScanFormat(value: string): (typeof SCAN_FORMATS)[number] {
  const v = value.trim().toLowerCase();
  if (!(SCAN_FORMATS as readonly string[]).includes(v)) throw new UsageError(`unknown format '${value}'; use one of: ${SCAN_FORMATS.join(', ')}`);
  return v as (typeof SCAN_FORMATS)[number];
}

export function registerScan(program: Command, deps: Deps): void {
  const cmd = program
    .command('scan')
    .description('find leaked tokenctl tokens in files, staged changes or stdin; exits 6 when any is found')
    .argument('[paths...]', 'files and directories to scan (default: the current directory)')
    .option('--staged', 'scan what is staged in git (for a pre-commit hook) instead of the working tree')
    .option('--stdin', 'scan standard input')
    .addOption(new Option('--format <format>', 'output format (default: table; json with --json)').choices(SCAN_FORMATS).argParser(parseScanFormat))
    .action(async (paths: string[], opts: ScanOptions, self: Command) => {
      const globals = globalsOf(self);
      if (opts.stdin && (opts.staged || paths.length > 0)) throw new UsageError('--stdin scans standard input only; drop the paths and --staged');
      const format = opts.format ?? (globals.json ? 'json' : 'table');
      const cwd = process.cwd();
      const [{ filesUnder, stagedFiles }, { accountIdentifier, scanInputs }, report] = await Promise.all([
        import('../scan/sources.js'),
        import('../scan/scan.js'),
        import('../scan/report.js'),
      ]);
      const hooks = { skipped: (file: string, why: string) => warn(deps, `skipped ${safeText(file)}: ${why}`) };
      const inputs = opts.stdin
        ? (async function* () {
            yield { file: report.STDIN_LABEL, text: await deps.io.readStdin() };
          })()
        : opts.staged
          ? stagedFiles(paths, cwd, hooks)
          : filesUnder(paths.length > 0 ? paths : ['.'], cwd, hooks);

      // Which findings are live tokens of this account: by keyed fingerprint, so nothing is revealed. No
      // account (or an unreachable one) makes the answer "unknown"; it never fails the scan.
      const identify = accountIdentifier(
        () => deps.backend(globals),
        (why) => warn(deps, `cannot tell whether the tokens found belong to your account (${why}); they are reported as unknown`),
      );
      const { findings, scanned } = await scanInputs(inputs, identify, () => deps.clock.now());

      if (format === 'sarif') deps.io.out(report.renderSarif(findings, { version: program.version() ?? '0.0.0', cwd }));
      else if (format === 'json') deps.io.out(JSON.stringify(findings, null, 2) + '\n');
      else if (findings.length > 0) {
        const width = deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH;
        deps.io.out(deps.io.stdoutIsTTY ? report.renderFindingTable(findings, width) : report.renderFindingLines(findings));
      }

      const what = opts.stdin ? 'standard input' : `${scanned} ${opts.staged ? 'staged ' : ''}file${scanned === 1 ? '' : 's'}`;
      if (findings.length === 0) {
        info(deps, `No tokenctl tokens found in ${what}.`);
        return;
      }
      const liveFindings = findings.filter((f) => f.live === 'yes');
      const live = liveFindings.length;
      // The same token found twice is one token: say how many tokens of the account are exposed, not how many copies.
      const liveTokens = new Set(liveFindings.map((f) => f.token?.id)).size;
      const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
      const liveText =
        live === liveTokens ? `${plural(live, 'live token')} of this account` : `${plural(live, 'occurrence')} of ${plural(liveTokens, 'live token')} of this account`;
      const unknown = findings.some((f) => f.live === 'unknown');
      const files = new Set(findings.map((f) => f.file)).size;
      // "in 2 of 3 files": where they are, out of what was scanned.
      const where = opts.stdin ? 'standard input' : files === scanned ? what : `${files} of ${what}`;
      const them = findings.length === 1 ? 'it' : 'them';
      const removeFrom = opts.stdin ? `remove ${them} from wherever that input came from` : `remove ${them} from ${files === 1 ? 'that file' : 'those files'}`;
      throw new PolicyViolationError(
        `found ${findings.length} tokenctl token${findings.length === 1 ? '' : 's'} in ${where}` +
          (unknown ? '' : ` (${liveText})`) +
          `; ${removeFrom}${opts.staged ? ` (and unstage ${them})` : ''}, and replace every token that may have been exposed: tokenctl rotate <name>`,
      );
    });
  examples(cmd, [
    'tokenctl scan .',
    'tokenctl scan --staged          # in .git/hooks/pre-commit',
    'tokenctl scan --format sarif > tokenctl.sarif',
  ]);
}
