import { Argument, type Command } from 'commander';
import type { Deps } from '../deps.js';
import { isLive, sortTokens } from '../core/tokens.js';
import { examples, globalsOf } from './shared.js';

const SHELL_NAMES = ['bash', 'zsh', 'fish'] as const;
/** Completion must never make a shell wait: a slow backend simply offers no names. */
const COMPLETE_TIMEOUT_MS = 2000;

export function registerCompletion(program: Command, deps: Deps): void {
  const cmd = program
    .command('completion')
    .description('print a shell completion script (commands, options, token types and names)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELL_NAMES))
    .action(async (shell: (typeof SHELL_NAMES)[number]) => {
      const [{ completionSpec }, { completionScript }] = await Promise.all([import('../completion/spec.js'), import('../completion/scripts.js')]);
      deps.io.out(completionScript(shell, completionSpec(program)));
    });
  examples(cmd, [
    'source <(tokenctl completion bash)      # in ~/.bashrc',
    'tokenctl completion zsh > "${fpath[1]}/_tokenctl"',
    'tokenctl completion fish > ~/.config/fish/completions/tokenctl.fish',
  ]);

  // For the completion scripts: names, one per line, and nothing else ever (no errors, no warnings, exit 0).
  program
    .command('__complete', { hidden: true })
    .argument('<what>', 'tokens or profiles')
    .action(async (what: string, _opts: unknown, self: Command) => {
      try {
        const names = await withTimeout(listNames(deps, what, self), COMPLETE_TIMEOUT_MS);
        if (names.length > 0) deps.io.out(names.join('\n') + '\n');
      } catch {
        // silent by design: a completion that fails offers nothing
      }
    });
}

async function listNames(deps: Deps, what: string, self: Command): Promise<string[]> {
  if (what === 'profiles') {
    const [{ readdir }, { default: path }, { tokenctlHome }] = await Promise.all([import('node:fs/promises'), import('node:path'), import('../config/paths.js')]);
    const entries = await readdir(path.join(tokenctlHome(deps.env), 'profiles'), { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }
  if (what !== 'tokens') return [];
  const backend = await deps.backend(globalsOf(self));
  // Names with a line break cannot be completed (and the contract forbids control characters anyway).
  return sortTokens((await backend.list()).filter(isLive))
    .map((t) => t.name)
    .filter((n) => !/[\r\n]/.test(n));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
