import { Command, CommanderError } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { createDeps, type Deps } from './deps.js';
import { defaultProfileName } from './config/profiles-read.js';
import { EXIT_CODES, exitCodeFor, StoreNotInitialisedError, TokenctlError, UsageError } from './core/errors.js';
import { drainProcessStreams, processStream } from './ui/io.js';
import { redactTokenLike, safeText } from './ui/sanitize.js';
import { registerInit } from './commands/init.js';
import { registerCreate } from './commands/create.js';
import { registerList } from './commands/list.js';
import { registerGet } from './commands/get.js';
import { registerRename } from './commands/rename.js';
import { registerDelete } from './commands/delete.js';
import { registerRotate } from './commands/rotate.js';
import { registerAudit } from './commands/audit.js';
import { registerLog } from './commands/log.js';
import { registerVerify } from './commands/verify.js';
import { registerExec } from './commands/exec.js';
import { registerScan } from './commands/scan.js';
import { registerCompletion } from './commands/completion.js';
import { registerServe } from './commands/serve.js';
import { registerServer } from './commands/server.js';
import { registerLogin } from './commands/login.js';
import { registerProfile } from './commands/profile.js';
import { registerLogout } from './commands/logout.js';
import { registerVersion } from './commands/version.js';
import { registerUsage } from './commands/usage.js';
import { registerWebhooks } from './commands/webhooks.js';
import { CommandExit, currentInterruptNote, tokenctlName } from './commands/shared.js';

type Register = (program: Command, deps: Deps) => void;

/** Every command, by the names (and aliases) it answers to, in the order `--help` lists them. */
const COMMANDS: readonly (readonly [names: readonly string[], register: Register])[] = [
  [['init'], registerInit],
  [['create'], registerCreate],
  [['list', 'ls'], registerList],
  [['get'], registerGet],
  [['rename'], registerRename],
  [['delete', 'rm'], registerDelete],
  [['rotate'], registerRotate],
  [['audit'], registerAudit],
  [['usage'], registerUsage],
  [['webhooks'], registerWebhooks],
  [['log'], registerLog],
  [['verify'], registerVerify],
  [['exec'], registerExec],
  [['scan'], registerScan],
  [['completion', '__complete'], registerCompletion],
  [['serve'], registerServe],
  [['server'], registerServer],
  [['login'], registerLogin],
  [['logout'], registerLogout],
  [['profile'], registerProfile],
  [['version'], (program, deps) => registerVersion(program, deps, pkg.version)],
];

/** Commands that need every other one registered: help lists them, completion describes them. */
const NEEDS_ALL = new Set(['help', 'completion', '__complete']);

/**
 * The command a command line names, when only that one needs registering: the first word after the global options.
 * Anything else (no command, --help, --version, an unknown option or command) needs the whole program.
 */
function soleCommand(argv: readonly string[]): { name: string; register: Register } | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--profile') i++;
    else if (arg === '--json' || arg === '--debug' || arg.startsWith('--profile=')) continue;
    else if (arg.startsWith('-') || NEEDS_ALL.has(arg)) return undefined;
    else {
      const entry = COMMANDS.find(([names]) => names.includes(arg));
      return entry && { name: arg, register: entry[1] };
    }
  }
  return undefined;
}

/** The width help is wrapped to when it does not go to a terminal (commander's own default). */
const HELP_WIDTH = 80;

function baseProgram(deps: Deps): Command {
  return new Command('tokenctl')
    .description("Manage your account's API access tokens safely")
    .version(pkg.version, '-V, --version')
    .option('--json', 'machine-readable output on stdout')
    .option('--profile <name>', 'profile to use (env: TOKENCTL_PROFILE; default: the one chosen with `tokenctl profile use`, else "default")')
    .option('--debug', 'show stack traces on errors')
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText('after', '\nHelp topics: tokenctl help environment, tokenctl help exit-codes\n')
    .configureOutput({
      writeOut: (s) => deps.io.out(s),
      writeErr: (s) => deps.io.err(s),
      // What commander would ask process.stdout and process.stderr, asked of the IO instead: a stream that is not
      // written to is never set up. tokenctl's help has no colour of its own, so these only decide what is wrapped.
      getOutHelpWidth: () => deps.io.columns ?? HELP_WIDTH,
      getErrHelpWidth: () => deps.io.errColumns ?? HELP_WIDTH,
      getOutHasColors: () => deps.io.outStyle.level > 0,
      getErrHasColors: () => deps.io.style.level > 0,
      outputError: (s, write) => write(cleanText(oneLineError(s)) + '\n'),
    })
    // The saved profile selection is read only when a command runs: --help and --version touch no file.
    .hook('preAction', (root) => {
      if (root.getOptionValue('profile') === undefined) root.setOptionValue('profile', defaultProfileName(deps.env, deps.savedProfiles));
    });
}

/**
 * The program with every command; given the command line, with only the command it names when that is enough
 * (defining all of them costs every start a few milliseconds; help, completion and errors still see them all).
 */
export function buildProgram(deps: Deps, argv?: readonly string[]): Command {
  const sole = argv && soleCommand(argv);
  if (sole) {
    const program = baseProgram(deps);
    sole.register(program, deps);
    if (program.commands.some((c) => c.name() === sole.name || c.aliases().includes(sole.name))) return program;
  }
  const program = baseProgram(deps);
  for (const [, register] of COMMANDS) register(program, deps);
  return program;
}

/**
 * commander's usage errors on one line, as every other error is: "error: unknown command 'lst'\n(Did you mean
 * list?)" becomes "error: unknown command 'lst'; did you mean list? (run with --help for usage)".
 */
export function oneLineError(message: string): string {
  const lines = message.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const [first = 'error', ...rest] = lines;
  const suggestion = rest
    .map((l) => /^\(Did you mean (.*)\)$/.exec(l)?.[1])
    .find((x) => x !== undefined);
  const others = rest.filter((l) => !/^\(Did you mean /.test(l));
  return [first, ...others].join('; ') + (suggestion ? `; did you mean ${suggestion}` : '') + ' (run with --help for usage)';
}

/**
 * Everything printed about an error, stack traces included, goes through this, line by line (commander's
 * messages span lines, and safeText would escape the breaks): no control character, no value-shaped text.
 */
function cleanText(text: string): string {
  return text
    .split('\n')
    .map((line) => redactTokenLike(safeText(line)))
    .join('\n');
}

function describeError(error: unknown, debug: boolean): string {
  if (error instanceof TokenctlError) {
    const detail = debug && error.cause instanceof Error ? `\n${error.cause.stack ?? error.cause.message}` : '';
    return cleanText(`error: ${error.message}${debug ? `\n${error.stack ?? ''}` : ''}${detail}`);
  }
  // Unexpected errors can carry anything in their message; show it only when asked.
  const name = error instanceof Error ? error.name : typeof error;
  if (!debug) return `error: unexpected internal error (${safeText(name)}); this is a bug. Run again with --debug for details and report it`;
  return cleanText(`error: unexpected internal error\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}

/** `tokenctl [globals] help <word>` where <word> is not a command: a help topic (or an unknown one). */
function helpTopicOf(argv: readonly string[], program: Command): string | undefined {
  const words = argv.filter((a, i) => !a.startsWith('-') && argv[i - 1] !== '--profile');
  if (words[0] !== 'help' || words[1] === undefined) return undefined;
  const known = program.commands.some((c) => c.name() === words[1] || c.aliases().includes(words[1]!));
  return known ? undefined : words[1];
}

/** Runs one command line; returns the exit code. Never exits the process (main does). */
export async function runCli(argv: readonly string[], deps: Deps): Promise<number> {
  const debug = argv.includes('--debug') || deps.env.TOKENCTL_DEBUG === '1';
  let program: Command | undefined;
  try {
    program = buildProgram(deps, argv);
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT_CODES.usage;
    }
    const topic = helpTopicOf(argv, program);
    if (topic !== undefined) {
      const { helpTopicText, isHelpTopic, HELP_TOPICS } = await import('./commands/help.js');
      if (!isHelpTopic(topic)) {
        throw new UsageError(`no help topic or command '${topic}'; topics: ${HELP_TOPICS.join(', ')}; commands: tokenctl --help`);
      }
      deps.io.out(helpTopicText(topic, deps.io.stdoutIsTTY ? (deps.io.columns ?? HELP_WIDTH) : undefined));
      return EXIT_CODES.ok;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof CommandExit) return error.exitCode;
    if (error instanceof CommanderError) {
      // Help and version are successes; every other commander error is a usage error (already printed).
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    deps.io.err(describeError(withProfile(error, program, deps), debug) + '\n');
    return exitCodeFor(error);
  }
}

/**
 * An uninitialised store names the profile in its `init` command (the profile this command line used), and the
 * command as the user runs tokenctl (`npx tokenctl` through npx).
 */
function withProfile(error: unknown, program: Command | undefined, deps: Deps): unknown {
  if (!(error instanceof StoreNotInitialisedError)) return error;
  const profile = error.profile ?? (program?.getOptionValue('profile') as string | undefined);
  return new StoreNotInitialisedError(error.where, profile, tokenctlName(deps.env));
}

/** The process entry point: the only place that exits. */
export async function main(): Promise<void> {
  let code: number;
  try {
    const deps = await createDeps(process.env);
    process.once('SIGINT', () => {
      // A command in a step that keeps state says what is kept and how to go on; otherwise nothing was changed.
      const note = currentInterruptNote();
      processStream('stderr').write(`\n${note === undefined ? 'cancelled' : cleanText(`cancelled: ${note}`)}\n`);
      process.exit(EXIT_CODES.cancelled);
    });
    code = await runCli(process.argv.slice(2), deps);
  } catch (error) {
    processStream('stderr').write(describeError(error, process.argv.includes('--debug')) + '\n');
    code = exitCodeFor(error);
  }
  await drainProcessStreams();
  process.exit(code);
}
