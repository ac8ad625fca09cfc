import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { StoreDataError } from '../core/errors.js';
import { toTokenView } from '../core/tokens.js';
import { renderJson } from '../ui/render.js';
import { describeToken, examples, globalsOf, info } from './shared.js';
import { githubAddMaskCommand, isGitHubActions, writeSecretFile } from '../exec/ci.js';

interface GetOptions {
  allowPending?: boolean;
  outputFile?: string;
  newline: boolean;
}

export function registerGet(program: Command, deps: Deps): void {
  const cmd = program
    .command('get')
    .description('print a token value, and only the value, on stdout')
    .argument('<name|id>', 'the token')
    .option('--allow-pending', 'also print a token that is still pending')
    .option('--output-file <path>', 'write the value to this new file (mode 0600) instead of stdout; never overwrites, never follows a symlink')
    .option('--no-newline', 'never end the value with a newline (by default one is added only on a terminal)')
    .action(async (ref: string, opts: GetOptions, self: Command) => {
      const globals = globalsOf(self);
      const backend = await deps.backend(globals);
      const { token, value } = await backend.reveal(ref, { allowPending: opts.allowPending });
      // A store must never hand out an empty value: a script would carry on with TOKEN="" and exit 0.
      if (value === '') throw new StoreDataError(`token ${token.id} has an empty value; nothing was printed`);
      // Register the mask with the runner BEFORE the value can appear anywhere (actions/runner#475). The
      // runner reads workflow commands from both streams; stderr keeps stdout the value alone.
      if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(value));
      if (opts.outputFile !== undefined) {
        const written = await writeSecretFile(opts.outputFile, value);
        info(deps, `Wrote the value of ${describeToken(token)} to ${written} (mode 0600)`);
        return;
      }
      if (globals.json) deps.io.out(renderJson({ ...toTokenView(token, deps.clock.now()), value }));
      // Exactly the value when redirected or piped (`get ci > file`); a newline only for a person's terminal.
      else deps.io.out(deps.io.stdoutIsTTY && opts.newline ? `${value}\n` : value);
    });
  examples(cmd, [
    'TOKEN=$(tokenctl get ci-deploy)',
    'tokenctl get reporting --output-file ./reporting.token',
    'tokenctl get reporting --json | jq -r .value',
  ]);
}
