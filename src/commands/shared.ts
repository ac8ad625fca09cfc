import type { Command } from 'commander';
import type { Deps, GlobalOptions } from '../deps.js';
import { UsageError } from '../core/errors.js';
import { validateProfileName } from '../config/paths.js';
import { redactTokenLike } from '../ui/sanitize.js';
import { POLICY, tokenStatus, type TokenRecord, type TokenView } from '../core/tokens.js';
import { formatDuration, formatInstant, shellWord, type CommandLine } from '../core/format.js';

const DELETE_PHRASE = POLICY.deletePhrase;
import { safeText } from '../ui/sanitize.js';

export function globalsOf(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as { json?: boolean; profile?: string; debug?: boolean };
  return { json: Boolean(o.json), profile: validateProfileName(o.profile ?? 'default'), debug: Boolean(o.debug) };
}

// Progress, success and warning lines never carry a value; redacting anything value-shaped is the last
// line of defence (a path or a name built from one, say).
export function info(deps: Deps, message: string): void {
  deps.io.err(`${redactTokenLike(message)}\n`);
}

export function success(deps: Deps, message: string): void {
  // The same mark as an answered prompt's (✔), so that output never mixes two.
  deps.io.err(`${deps.io.style.green('✔')} ${redactTokenLike(message)}\n`);
}

export function warn(deps: Deps, message: string): void {
  deps.io.err(`${deps.io.style.yellow('warning:')} ${redactTokenLike(message)}\n`);
}

/** Never prompt without a terminal: fail with the flag to pass instead. */
export function requireInteractive(deps: Deps, what: string, flag: string): void {
  if (!deps.io.stdinIsTTY) throw new UsageError(`${what} and there is no terminal to ask on; pass ${flag}`);
}

/** "s2s token 'ci' (tok_…)", safe for the terminal. */
export function describeToken(t: Pick<TokenView, 'type' | 'name' | 'id'>): string {
  return `${t.type} token '${safeText(t.name)}' (${t.id})`;
}

/** For a value handed out with --allow-pending: until when calls made with it are rejected; null when it is usable. */
export function pendingReminder(token: TokenRecord, now: Date): string | null {
  if (tokenStatus(token, now) !== 'pending') return null;
  const left = formatDuration(Date.parse(token.activatesAt) - now.getTime());
  return `${describeToken(token)} is pending until ${formatInstant(token.activatesAt)} (in ${left}): calls made with its value are rejected until then`;
}

/** Adds the examples block every command's --help ends with. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/**
 * Ends a command with this exit code and no message of its own (exec passes on its child's status this way).
 * runCli returns the code as it is.
 */
export class CommandExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CommandExit';
  }
}

export { shellWord };

/**
 * How the user runs tokenctl: `npx tokenctl` when npm exec (npx) started this process (tokenctl is then not on the
 * user's PATH, only on the one npm gave it), else `tokenctl`.
 */
export function tokenctlName(env: Deps['env']): string {
  return env.npm_command === 'exec' ? 'npx tokenctl' : 'tokenctl';
}

/** "tokenctl [--profile <p>] <args>": the exact command to run next, in the profile this run used, as the user runs tokenctl. */
export function tokenctlCommand(deps: Pick<Deps, 'env'>, globals: { profile: string }, args: readonly string[]): string {
  const profile = globals.profile === 'default' ? [] : ['--profile', globals.profile];
  return [tokenctlName(deps.env), ...[...profile, ...args].map(shellWord)].join(' ');
}

/** The same, as the rules (src/core) take it. */
export function commandLine(deps: Pick<Deps, 'env'>, globals: { profile: string }): CommandLine {
  return (args) => tokenctlCommand(deps, globals, args);
}

/**
 * What an interruption (Ctrl-C) leaves behind, said instead of a bare "cancelled" while a command is in a step
 * that keeps state (a rotation waiting for its replacement). main's SIGINT handler prints it.
 */
let interruptNote: string | undefined;
export function setInterruptNote(note: string | undefined): void {
  interruptNote = note;
}
export function currentInterruptNote(): string | undefined {
  return interruptNote;
}

/**
 * `--yes` / `--force` (what other tools take) never delete anything here: the spec wants the phrase typed, so say how.
 * The options are hidden; they exist only to answer with this line instead of "unknown option".
 */
export function refuseYesOrForce(opts: { yes?: boolean; force?: boolean }, what: string): void {
  if (!opts.yes && !opts.force) return;
  throw new UsageError(
    `${opts.yes ? '--yes' : '--force'} is not accepted: ${what} needs the exact phrase, so type it when asked on a terminal, or pass --confirm "${DELETE_PHRASE}"; nothing was changed`,
  );
}
