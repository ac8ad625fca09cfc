import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { renderJson } from '../ui/render.js';
import { examples, globalsOf } from './shared.js';

/** `tokenctl version`, as gh has it (same as --version; `--json` for scripts). */
export function registerVersion(program: Command, deps: Deps, version: string): void {
  const cmd = program
    .command('version')
    .description('print the version of tokenctl')
    .action((_opts: unknown, self: Command) => {
      deps.io.out(globalsOf(self).json ? renderJson({ version }) : `tokenctl ${version}\n`);
    });
  examples(cmd, ['tokenctl version', 'tokenctl version --json | jq -r .version']);
}
