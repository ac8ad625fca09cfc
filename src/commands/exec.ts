import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { UsageError } from '../core/errors.js';
import { safeText } from '../ui/sanitize.js';
import { defaultVariableFor, parseTokenBinding, RESERVED_VARIABLES } from '../exec/env.js';
import { githubAddMaskCommand, isGitHubActions } from '../exec/ci.js';
import { childEnvironment } from '../secrets/child-env.js';
import { CommandExit, examples, globalsOf } from './shared.js';

interface ExecOptions {
  token: string[];
  mask?: boolean;
  allowPending?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerExec(program: Command, deps: Deps): void {
  const cmd = program
    .command('exec')
    .description("run a command with token values in its environment (never on its command line); exits with the command's code")
    .argument('<command...>', 'the command and its arguments, after --')
    .requiredOption('--token <name|id[=VAR]>', 'a token to pass, as VAR (default TOKENCTL_<NAME>); repeat for more', collect, [])
    .option('--mask', "replace every token value in the command's stdout and stderr with ***")
    .option('--allow-pending', 'also pass tokens that are still pending')
    .action(async (argv: string[], opts: ExecOptions, self: Command) => {
      const [command, ...args] = argv;
      if (command === undefined || command === '') throw new UsageError('give the command to run after --, e.g.: tokenctl exec --token ci -- ./deploy.sh');
      const bindings = opts.token.map(parseTokenBinding);
      if (bindings.length === 0) throw new UsageError('pass at least one --token <name|id>[=VAR]');
      // The command is found first (PATH, the executable bit): one that cannot start retrieves and records nothing.
      const { resolveCommand } = await import('../exec/resolve.js');
      const resolved = resolveCommand(command, deps.env);
      if (!resolved.ok) {
        deps.io.err(`error: ${safeText(command)}: ${resolved.why}; no token was retrieved\n`);
        throw new CommandExit(resolved.code);
      }
      const backend = await deps.backend(globalsOf(self));

      // Check every variable first, then resolve every value before starting anything: a bad binding, or a
      // missing or pending token, means the command never runs (and no value is retrieved for nothing).
      const variables: string[] = [];
      for (const binding of bindings) {
        const token = await backend.find(binding.ref);
        const variable = binding.variable ?? defaultVariableFor(token.name);
        if (RESERVED_VARIABLES.has(variable)) {
          throw new UsageError(`token '${safeText(token.name)}' would be passed as ${variable}, one of tokenctl's own settings; name the variable: --token ${safeText(binding.ref)}=SOME_NAME`);
        }
        if (variables.includes(variable)) {
          throw new UsageError(`two tokens would both be passed as ${variable}; name the variables: --token <name>=VAR`);
        }
        variables.push(variable);
      }
      const extra: Record<string, string> = {};
      const values: string[] = [];
      for (const [i, binding] of bindings.entries()) {
        const { value } = await backend.reveal(binding.ref, { allowPending: opts.allowPending });
        extra[variables[i]!] = value;
        values.push(value);
      }

      // Under GitHub Actions the runner masks the values in the log from now on, whatever the command prints.
      if (isGitHubActions(deps.env)) for (const value of values) deps.io.err(githubAddMaskCommand(value));

      const { runChild } = await import('../exec/run.js');
      const outcome = await runChild({
        command: resolved.file,
        argv0: command,
        args,
        // tokenctl's own credentials stay behind: the command gets the tokens it was given, nothing more.
        env: childEnvironment(deps.env, extra),
        maskValues: opts.mask ? values : undefined,
        interactive: deps.io.stdinIsTTY || deps.io.stdoutIsTTY || deps.io.stderrIsTTY,
      });
      if (outcome.kind === 'failed') {
        const why = outcome.reason === 'not-found' ? 'command not found' : `cannot run it (${outcome.errno ?? 'error'})`;
        deps.io.err(`error: ${safeText(command)}: ${why}\n`);
      }
      if (outcome.code !== 0) throw new CommandExit(outcome.code);
    });
  examples(cmd, [
    'tokenctl exec --token ci-deploy -- ./deploy.sh',
    'tokenctl exec --token events-prod=S2S_TOKEN --mask -- npm run post-events',
    'tokenctl exec --token default=API_TOKEN -- sh -c \'curl -H "Authorization: Bearer $API_TOKEN" https://api.example.com/v1/me\'',
  ]);
}
