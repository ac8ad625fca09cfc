import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { normalizeTokenName } from '../core/names.js';
import { formatDuration, formatInstant } from '../core/format.js';
import { parseTokenType, toTokenView, TOKEN_TYPES, TYPE_LABELS, tokenStatus, type TokenType } from '../core/tokens.js';
import { renderJson } from '../ui/render.js';
import { githubAddMaskCommand, isGitHubActions } from '../exec/ci.js';
import { describeToken, examples, globalsOf, requireInteractive, success } from './shared.js';

async function askType(deps: Deps): Promise<TokenType> {
  requireInteractive(deps, 'no token type given', `--type <${TOKEN_TYPES.join('|')}>`);
  return deps.prompter().select(
    'Token type',
    TOKEN_TYPES.map((t) => ({ name: `${t}  ${TYPE_LABELS[t]}`, value: t })),
  );
}

async function askName(deps: Deps): Promise<string> {
  requireInteractive(deps, 'no token name given', '--name <name>');
  return deps.prompter().input('Token name', (value) => {
    try {
      normalizeTokenName(value);
      return true;
    } catch (error) {
      return (error as Error).message;
    }
  });
}

export function registerCreate(program: Command, deps: Deps): void {
  const cmd = program
    .command('create')
    .description('create a token; prints only its value on stdout')
    .option('--type <type>', `token type: ${TOKEN_TYPES.join(', ')}`)
    .option('--name <name>', 'token name (1-64 characters, unique ignoring case)')
    .action(async (opts: { type?: string; name?: string }, self: Command) => {
      const globals = globalsOf(self);
      const type = opts.type !== undefined ? parseTokenType(opts.type) : await askType(deps);
      const name = opts.name !== undefined ? normalizeTokenName(opts.name) : await askName(deps);
      const backend = await deps.backend(globals);
      const { token, value } = await backend.create({ type, name });
      const now = deps.clock.now();
      const view = toTokenView(token, now);
      // Under GitHub Actions the runner must know the value is secret before it appears in any log.
      if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(value));
      deps.io.out(globals.json ? renderJson({ ...view, value }) : `${value}\n`);
      success(deps, `Created ${describeToken(view)}`);
      if (tokenStatus(token, now) === 'pending') {
        deps.io.err(
          `It is pending until ${formatInstant(token.activatesAt)} (in ${formatDuration(Date.parse(token.activatesAt) - now.getTime())}): ` +
            'put it in place now; calls made with it are rejected until then.\n',
        );
      }
    });
  examples(cmd, [
    'tokenctl create --type s2s --name events-prod',
    'tokenctl create --type api --name reporting > token.txt',
    'tokenctl create   # asks for the type and name on a terminal',
  ]);
}
