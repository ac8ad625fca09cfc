import type { Command, Option } from 'commander';
import { TOKEN_TYPES } from '../core/tokens.js';

/** What a shell should offer for a value: fixed words, the current profile's token names, profiles, files. */
export type ValueKind = { words: string[] } | 'tokens' | 'profiles' | 'files' | 'none';

export interface OptionSpec {
  flags: string[];
  description: string;
  /** undefined when the option takes no value. */
  value?: ValueKind;
}

export interface CommandSpec {
  name: string;
  /** Other names the command answers to (`ls` for `list`): recognised, not offered. */
  aliases: string[];
  description: string;
  options: OptionSpec[];
  /** What the first positional argument is. */
  firstArg: ValueKind;
  /** Everything after `--` (or the first operand) is another command line (exec). */
  runsCommand: boolean;
}

export interface CompletionSpec {
  program: string;
  globals: OptionSpec[];
  commands: CommandSpec[];
}

/** The topics of `tokenctl help <topic>` (src/commands/help.ts). */
export const HELP_TOPIC_WORDS = ['environment', 'exit-codes'] as const;

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

function valueOf(option: Option): ValueKind | undefined {
  if (!option.required && !option.optional) return undefined;
  const long = option.long ?? '';
  if (option.argChoices && option.argChoices.length > 0) return { words: [...option.argChoices] };
  if (long === '--type') return { words: [...TOKEN_TYPES] };
  if (long === '--token') return 'tokens';
  if (long === '--profile') return 'profiles';
  if (/file|path|dir/.test(long) || /<[^>]*(file|path|dir)[^>]*>/.test(option.flags)) return 'files';
  // "output format: table, json, csv (default: ...)" -> the listed words.
  const listed = /format[s]?:?\s+([a-z0-9]+(?:\s*(?:,|\||or)\s*[a-z0-9]+)+)/i.exec(option.description);
  if (long === '--format' && listed) return { words: listed[1]!.split(/\s*(?:,|\||or)\s*/).filter(Boolean) };
  return 'none';
}

function optionSpecs(cmd: Command): OptionSpec[] {
  return cmd.options
    .filter((o) => !o.hidden)
    .map((o) => ({
      flags: [o.short, o.long].filter((f): f is string => Boolean(f)),
      description: o.description,
      value: valueOf(o),
    }));
}

function firstArgOf(cmd: Command, shells: readonly string[]): ValueKind {
  const first = cmd.registeredArguments[0];
  if (!first) return 'none';
  if (cmd.name() === 'completion') return { words: [...shells] };
  if (/name\|id/.test(first.name())) return 'tokens';
  if (/path|file/.test(first.name())) return 'files';
  if (first.argChoices) return { words: [...first.argChoices] };
  return 'none';
}

const visible = (cmd: Command) => cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);

/** A group's options are its own and its commands' (one level: `profile use`, `server init`). */
function groupOptions(cmd: Command): OptionSpec[] {
  const seen = new Set<string>();
  return [cmd, ...visible(cmd)].flatMap(optionSpecs).filter((o) => {
    const key = o.flags.join(' ');
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

/** Reads commands and options from the program itself, so completion never drifts from the CLI. */
export function completionSpec(program: Command): CompletionSpec {
  const help = { flags: ['-h', '--help'], description: 'display help' };
  const commands: CommandSpec[] = visible(program).map((c) => {
    const subs = visible(c);
    return {
      name: c.name(),
      aliases: c.aliases(),
      description: c.description(),
      options: [...groupOptions(c), help],
      firstArg: subs.length > 0 ? { words: subs.map((s) => s.name()) } : firstArgOf(c, SHELLS),
      runsCommand: c.name() === 'exec',
    };
  });
  commands.push({
    name: 'help',
    aliases: [],
    description: 'display help for a command',
    options: [],
    // Help topics as gh has them (`tokenctl help environment`), beside the commands.
    firstArg: { words: [...commands.map((c) => c.name), ...HELP_TOPIC_WORDS] },
    runsCommand: false,
  });
  return { program: program.name(), globals: [...optionSpecs(program), help], commands };
}
