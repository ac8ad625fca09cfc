import path from 'node:path';
import { FileBackend } from '../../src/backends/file/file-backend.js';
import { runCli } from '../../src/cli.js';
import { manualClock, type ManualClock } from '../../src/core/clock.js';
import { CancelledError } from '../../src/core/errors.js';
import type { Deps } from '../../src/deps.js';
import { captureIO } from '../../src/ui/io.js';
import type { Prompter } from '../../src/ui/prompter.js';
import { newMasterKeyB64 } from './env.js';

/** Scripted answers for prompts. Any prompt the test did not expect fails the test (strict fake). */
export type Answer = string | { cancel: true };

export function scriptedPrompter(answers: Answer[]): Prompter & { asked: string[]; choices: string[][] } {
  const asked: string[] = [];
  /** The names of the choices each select offered, as the terminal shows them. */
  const choices: string[][] = [];
  const next = (message: string): string => {
    asked.push(message);
    const a = answers.shift();
    if (a === undefined) throw new Error(`unexpected prompt: ${message}`);
    if (typeof a !== 'string') throw new CancelledError('cancelled (Ctrl-C); nothing was changed');
    return a;
  };
  return {
    asked,
    choices,
    select: async (message, offered) => {
      choices.push(offered.map((c) => c.name));
      const a = next(message);
      if (!offered.some((c) => c.value === a)) throw new Error(`answer ${a} is not a choice of ${message}`);
      return a as never;
    },
    input: async (message, validate) => {
      const a = next(message);
      const ok = validate ? validate(a) : true;
      if (ok !== true) throw new Error(`validation rejected '${a}': ${ok}`);
      return a;
    },
    secret: async (message) => next(message),
  };
}

export interface TestCli {
  clock: ManualClock;
  env: Record<string, string>;
  run(
    argv: string[],
    opts?: { tty?: boolean; answers?: Answer[]; crashAfter?: string; stdin?: string; env?: Record<string, string> },
  ): Promise<{ code: number; stdout: string; stderr: string; asked: string[]; choices: string[][] }>;
}

/** In-process CLI over a real file backend in a temp dir, with a manual clock. */
export function testCli(home: string, start = '2026-06-01T12:00:00.000Z'): TestCli {
  const clock = manualClock(start);
  const env = { TOKENCTL_HOME: home, TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off' };
  return {
    clock,
    env,
    async run(argv, opts = {}) {
      const io = captureIO({ tty: opts.tty ?? false, stdin: opts.stdin });
      const prompter = scriptedPrompter([...(opts.answers ?? [])]);
      const runEnv = { ...env, ...opts.env };
      const deps: Deps = {
        io,
        env: runEnv,
        clock,
        prompter: () => prompter,
        backend: async (g) =>
          new FileBackend({ dir: path.join(home, 'profiles', g.profile), clock, env: runEnv, actor: 'os:tester', warn: (m) => io.err(`warning: ${m}\n`) }),
        // Waiting moves the test's clock instead of the wall clock.
        sleep: async (ms) => clock.advance(ms),
        crashPoint: (step) => {
          if (opts.crashAfter === step) throw new Error(`simulated crash after ${step}`);
        },
      };
      const code = await runCli(argv, deps);
      return { code, stdout: io.stdout(), stderr: io.stderr(), asked: prompter.asked, choices: prompter.choices };
    },
  };
}
