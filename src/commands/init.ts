import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { toTokenView } from '../core/tokens.js';
import { renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { examples, globalsOf, success, tokenctlCommand } from './shared.js';

export function registerInit(program: Command, deps: Deps): void {
  const cmd = program
    .command('init')
    .description('create the account (and its default API token) in the selected backend')
    .option('--account <name>', 'account name', 'default')
    .option('--no-default-token', 'do not create the default API token')
    .action(async (opts: { account: string; defaultToken: boolean }, self: Command) => {
      const globals = globalsOf(self);
      const backend = await deps.backend(globals);
      const result = await backend.init({ accountName: opts.account, defaultToken: opts.defaultToken });
      const now = deps.clock.now();
      if (globals.json) {
        deps.io.out(renderJson({ account: result.account, tokens: result.tokens.map((t) => toTokenView(t, now)) }));
      }
      success(deps, `Created account '${safeText(result.account.name)}' (${result.account.id}) in ${backend.location}`);
      for (const t of result.tokens) {
        success(deps, `API token '${safeText(t.name)}' is active. Print it with: ${safeText(tokenctlCommand(deps, globals, ['get', t.name]))}`);
      }
    });
  examples(cmd, ['tokenctl init', 'tokenctl init --account acme --no-default-token', 'tokenctl --profile staging init']);
}
