import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { StoreDataError, UsageError } from '../core/errors.js';
import { toTokenView } from '../core/tokens.js';
import path from 'node:path';
import { tokenctlHome } from '../config/paths.js';
import { renderJson } from '../ui/render.js';
import { describeToken, examples, globalsOf, info, pendingReminder, warn } from './shared.js';
import { githubAddMaskCommand, isGitHubActions, writeSecretFile } from '../exec/ci.js';

interface GetOptions {
  allowPending?: boolean;
  outputFile?: string;
  newline: boolean;
  copy?: boolean;
  clear: boolean;
}

const seconds = (ms: number) => (ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 1_000)} s`);

export function registerGet(program: Command, deps: Deps): void {
  const cmd = program
    .command('get')
    .description('print a token value, and only the value, on stdout')
    .argument('<name|id>', 'the token')
    .option('--allow-pending', 'also print a token that is still pending')
    .option('--output-file <path>', 'write the value to this new file (mode 0600) instead of stdout; never overwrites, never follows a symlink')
    .option('--no-newline', 'never end the value with a newline (by default one is added only on a terminal)')
    .option('--copy', 'put the value on the clipboard instead (pbcopy, wl-copy, xclip, xsel, clip.exe, or the terminal with OSC 52); nothing on stdout')
    .option('--no-clear', 'with --copy: leave the value on the clipboard (by default it is cleared after 45 s if it is still there)')
    .action(async (ref: string, opts: GetOptions, self: Command) => {
      const globals = globalsOf(self);
      if (opts.copy && opts.outputFile !== undefined) throw new UsageError('--copy and --output-file both say where the value goes; choose one');
      if (!opts.copy && !opts.clear) throw new UsageError('--no-clear goes with --copy: tokenctl get <name> --copy --no-clear');
      const clipboard = opts.copy ? await import('../clipboard/clipboard.js') : null;
      // Where it would go is known before the value is retrieved (and recorded): no clipboard, no retrieval.
      if (clipboard) {
        clipboard.clearDelayMs(deps.env);
        clipboard.planClipboard(deps.env, { terminal: deps.io.stderrIsTTY });
      }
      const backend = await deps.backend(globals);
      const { token, value } = await backend.reveal(ref, { allowPending: opts.allowPending });
      // A store must never hand out an empty value: a script would carry on with TOKEN="" and exit 0.
      if (value === '') throw new StoreDataError(`token ${token.id} has an empty value; nothing was printed`);
      // --allow-pending hands out a value that does not work yet: say until when, where it cannot end up in the value.
      const pending = pendingReminder(token, backend.clock.now());
      if (pending) warn(deps, pending);
      // Register the mask with the runner BEFORE the value can appear anywhere (actions/runner#475). The
      // runner reads workflow commands from both streams; stderr keeps stdout the value alone.
      if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(value));
      if (clipboard) {
        const r = await clipboard.copyToClipboard(value, {
          env: deps.env,
          terminal: deps.io.stderrIsTTY,
          writeTerminal: (bytes) => deps.io.err(bytes),
          terminalFd: deps.io.stderrIsTTY ? 2 : undefined,
          clear: opts.clear,
          node: process.execPath,
          latestCopyFile: path.join(tokenctlHome(deps.env), 'clipboard-latest'),
        });
        const what = describeToken(token);
        const tmux = r.plan.kind === 'osc52' && r.plan.tmux ? ', through tmux: it needs set -g allow-passthrough on' : '';
        const idle = r.plan.kind === 'osc52' && r.plan.idle ? `, as ${r.plan.idle.tool} has no display to reach (${r.plan.idle.variable} is not set)` : '';
        const where = r.plan.kind === 'osc52' ? `Sent the value of ${what} to your terminal's clipboard (OSC 52${idle}${tmux}; a terminal without OSC 52 copies nothing)` : `Copied the value of ${what} to the clipboard (${r.via})`;
        const clearing =
          r.clearsInMs === null
            ? 'it stays there until something else is copied'
            : r.plan.kind === 'osc52'
              ? `it will be emptied in ${seconds(r.clearsInMs)}, whatever it holds then (keep it with --no-clear)`
              : `it will be cleared in ${seconds(r.clearsInMs)} if it is still there (keep it with --no-clear)`;
        info(deps, `${where}; ${clearing}`);
        if (globals.json) {
          const clearsAt = r.clearsInMs === null ? null : new Date(backend.clock.now().getTime() + r.clearsInMs).toISOString();
          deps.io.out(renderJson({ ...toTokenView(token, backend.clock.now()), clipboard: { via: r.via, clearsAt } }));
        }
        return;
      }
      if (opts.outputFile !== undefined) {
        const written = await writeSecretFile(opts.outputFile, value);
        info(deps, `Wrote the value of ${describeToken(token)} to ${written} (mode 0600)`);
        return;
      }
      if (globals.json) deps.io.out(renderJson({ ...toTokenView(token, backend.clock.now()), value }));
      // Exactly the value when redirected or piped (`get ci > file`); a newline only for a person's terminal.
      else deps.io.out(deps.io.stdoutIsTTY && opts.newline ? `${value}\n` : value);
    });
  examples(cmd, [
    'TOKEN=$(tokenctl get ci-deploy)',
    'tokenctl get reporting --copy            # cleared after 45 s; --no-clear keeps it',
    'tokenctl get reporting --output-file ./reporting.token',
  ]);
}
