import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { normalizeTokenName } from '../core/names.js';
import { TokenLimitReachedError } from '../core/errors.js';
import { creatableTypes, notCreatableReason, pendingAfterCreate, type Creatable } from '../core/decisions.js';
import { parseTokenType, toTokenView, TOKEN_TYPES, TYPE_LABELS, tokenStatus, type TokenType } from '../core/tokens.js';
import type { TokenBackend } from '../backends/token-backend.js';
import { safeText } from '../ui/sanitize.js';
import { renderJson } from '../ui/render.js';
import { githubAddMaskCommand, isGitHubActions } from '../exec/ci.js';
import { describeToken, examples, globalsOf, info, requireInteractive, success } from './shared.js';

/**
 * On a terminal, offers only the types that have a free slot (at most 2 live tokens per type, per the spec) and
 * that the account may create (OneLink is premium: core/features.ts), and says why the others are not offered,
 * before anything else is asked.
 */
async function askType(deps: Deps, backend: TokenBackend): Promise<TokenType> {
  requireInteractive(deps, 'no token type given', `--type <${TOKEN_TYPES.join('|')}>`);
  const [records, features] = await Promise.all([backend.list(), backend.features()]);
  const types = creatableTypes(records, features);
  const offered = types.filter((c) => c.allowed).map((c) => c.type);
  const refused = types.filter((c): c is Exclude<Creatable, { allowed: true }> => !c.allowed);
  if (offered.length === 0) {
    throw new TokenLimitReachedError(
      `no type can be created now (${refused.map((c) => `${c.type}: ${safeText(notCreatableReason(c))}`).join('; ')}); nothing was changed. ` +
        'Delete a token first (tokenctl delete <name>) or replace one with: tokenctl rotate <name>',
    );
  }
  for (const c of refused) info(deps, `Not offered: ${c.type} (${safeText(notCreatableReason(c))})`);
  // The descriptions in one column, whichever types are offered.
  const width = Math.max(...offered.map((t) => t.length));
  return deps.prompter().select(
    'Token type',
    offered.map((t) => ({ name: `${t.padEnd(width)}  ${TYPE_LABELS[t]}`, value: t })),
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
      const type = opts.type !== undefined ? parseTokenType(opts.type) : undefined;
      const name = opts.name !== undefined ? normalizeTokenName(opts.name) : undefined;
      // Without a terminal, a missing option fails before any store is opened.
      if (type === undefined) requireInteractive(deps, 'no token type given', `--type <${TOKEN_TYPES.join('|')}>`);
      if (name === undefined) requireInteractive(deps, 'no token name given', '--name <name>');
      const backend = await deps.backend(globals);
      if (type === undefined || name === undefined) await backend.noticeBeforeChange(); // before the questions, not after
      const chosenType = type ?? (await askType(deps, backend));
      const chosenName = name ?? (await askName(deps));
      const { token, value } = await backend.create({ type: chosenType, name: chosenName });
      const now = backend.clock.now();
      const view = toTokenView(token, now);
      // Under GitHub Actions the runner must know the value is secret before it appears in any log.
      if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(value));
      deps.io.out(globals.json ? renderJson({ ...view, value }) : `${value}\n`);
      success(deps, `Created ${describeToken(view)}`);
      if (tokenStatus(token, now) === 'pending') {
        // The same words as the Tokens page's (core/decisions.ts), in the terminal's short durations.
        deps.io.err(`It is ${pendingAfterCreate(token, now, 'short')}.\n`);
      }
    });
  examples(cmd, [
    'tokenctl create --type s2s --name events-prod',
    'tokenctl create --type api --name reporting | vault kv put secret/reporting token=-',
    'tokenctl create   # asks for the type and name on a terminal',
  ]);
}
