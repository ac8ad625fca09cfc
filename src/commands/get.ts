import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { toTokenView } from '../core/tokens.js';
import { renderJson } from '../ui/render.js';
import { examples, globalsOf } from './shared.js';

export function registerGet(program: Command, deps: Deps): void {
  const cmd = program
    .command('get')
    .description('print a token value, and only the value, on stdout')
    .argument('<name|id>', 'the token')
    .option('--allow-pending', 'also print a token that is still pending')
    .action(async (ref: string, opts: { allowPending?: boolean }, self: Command) => {
      const globals = globalsOf(self);
      const backend = await deps.backend(globals);
      const { token, value } = await backend.reveal(ref, { allowPending: opts.allowPending });
      if (globals.json) deps.io.out(renderJson({ ...toTokenView(token, deps.clock.now()), value }));
      // Exactly the value when redirected or piped (`get ci > file`); a newline only for a person's terminal.
      else deps.io.out(deps.io.stdoutIsTTY ? `${value}\n` : value);
    });
  examples(cmd, ['tokenctl get default', 'TOKEN=$(tokenctl get ci-deploy)', 'tokenctl get reporting --json | jq -r .value']);
}
