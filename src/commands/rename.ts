import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { toTokenView } from '../core/tokens.js';
import { renderJson } from '../ui/render.js';
import { describeToken, examples, globalsOf, success } from './shared.js';
import { safeText } from '../ui/sanitize.js';

export function registerRename(program: Command, deps: Deps): void {
  const cmd = program
    .command('rename')
    .description('rename a token (its value does not change)')
    .argument('<name|id>', 'the token')
    .argument('<new-name>', 'the new name (1-64 characters, unique ignoring case)')
    .action(async (ref: string, newName: string, _opts: unknown, self: Command) => {
      const globals = globalsOf(self);
      const backend = await deps.backend(globals);
      const token = await backend.rename(ref, newName);
      const view = toTokenView(token, backend.clock.now());
      if (globals.json) deps.io.out(renderJson(view));
      success(deps, `Renamed to '${safeText(view.name)}': ${describeToken(view)}`);
    });
  examples(cmd, ['tokenctl rename default reporting-2026', 'tokenctl rename tok_4f3k... "CI deploy"']);
}
