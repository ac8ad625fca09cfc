import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { toTokenView } from '../core/tokens.js';
import { terminalColumns } from '../ui/io.js';
import { DEFAULT_TABLE_WIDTH, renderJson } from '../ui/render.js';
import { examples, globalsOf } from './shared.js';

export function registerUsage(program: Command, deps: Deps): void {
  const cmd = program
    .command('usage')
    .description('who still uses a token: last use, resource servers and client addresses, calls per day (recorded by the token service)')
    .argument('<name|id>', 'the token (a deleted one too: by id, or its latest name)')
    .action(async (ref: string, _opts: unknown, self: Command) => {
      const globals = globalsOf(self);
      const backend = await deps.backend(globals);
      const { token, usage } = await backend.usage(ref);
      // After the answer: a service's clock is learned from it.
      const now = backend.clock.now();
      if (globals.json) {
        deps.io.out(renderJson({ token: toTokenView(token, now), usage }));
        return;
      }
      const width = deps.io.stdoutIsTTY ? (deps.io.columns ?? terminalColumns(undefined, deps.env) ?? DEFAULT_TABLE_WIDTH) : DEFAULT_TABLE_WIDTH;
      const { renderUsage } = await import('../ui/usage.js');
      deps.io.out(renderUsage(token, usage, now, width, deps.io.outStyle));
    });
  examples(cmd, ['tokenctl usage events-prod', 'tokenctl usage tok_0bQ1x2y3z4w5v6u7 --json   # a deleted token still draining, say']);
}
