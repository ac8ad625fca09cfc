import os from 'node:os';
import { offsetClock, parseInstant, systemClock, type Clock } from './core/clock.js';
import { UsageError } from './core/errors.js';
import type { TokenBackend } from './backends/token-backend.js';
import { profileDir, tokenctlHome } from './config/paths.js';
import { readProfileConfig } from './config/profiles-read.js';
import { processIO, type IO } from './ui/io.js';
import { FileBackend } from './backends/file/file-backend.js';
import { redactTokenLike, safeText } from './ui/sanitize.js';
import { inquirerPrompter, type Prompter } from './ui/prompter.js';

export type Env = Record<string, string | undefined>;

/** Options every command accepts. */
export interface GlobalOptions {
  json: boolean;
  profile: string;
  debug: boolean;
}

/**
 * Everything a command may touch, in one object. Expensive things are functions, so `tokenctl --help` never
 * opens a store, a keychain or a prompt library. Tests pass their own.
 */
export interface Deps {
  io: IO;
  env: Env;
  clock: Clock;
  prompter(): Prompter;
  backend(globals: GlobalOptions): Promise<TokenBackend>;
  /** Waiting (rotate --wait); tests move their clock instead. */
  sleep(ms: number): Promise<void>;
  /**
   * Test hook for crash-safety tests: TOKENCTL_CRASH_AFTER=<step> kills the process (SIGKILL) right after that
   * step of a rotation was recorded, as a power cut would.
   */
  crashPoint(step: string): void;
}

/** TOKENCTL_NOW: an ISO-8601 instant taken as "now" at start; the clock runs on from it. */
export function clockFromEnv(env: Env): Clock {
  const at = env.TOKENCTL_NOW;
  if (at === undefined || at === '') return systemClock;
  const start = parseInstant(at);
  if (!start) throw new UsageError(`TOKENCTL_NOW='${at.slice(0, 40)}' is not an ISO-8601 instant; use e.g. 2026-01-31T12:00:00Z`);
  return offsetClock(start);
}

/** Who is acting, for the local audit trail: the OS user. */
export function osActor(): string {
  try {
    return `os:${os.userInfo().username}`;
  } catch {
    return `os:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

export async function createDeps(env: Env): Promise<Deps> {
  const io = await processIO(env);
  let clock: Clock | undefined;
  const deps: Deps = {
    io,
    env,
    get clock() {
      return (clock ??= clockFromEnv(env));
    },
    prompter: inquirerPrompter,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    crashPoint: (step) => {
      if (env.TOKENCTL_CRASH_AFTER === step) process.kill(process.pid, 'SIGKILL');
    },
    async backend(globals) {
      // A token service when TOKENCTL_SERVER is set (CI) or the profile was saved by `tokenctl login`.
      if (env.TOKENCTL_SERVER || readProfileConfig(env).profiles[globals.profile]) {
        const { httpBackendFor } = await import('./backends/http/select.js');
        const remote = httpBackendFor(env, globals.profile);
        if (remote) return remote;
      }
      return new FileBackend({
        dir: profileDir(tokenctlHome(env), globals.profile),
        clock: deps.clock,
        env,
        actor: osActor(),
        warn: (message) => io.err(`${io.style.yellow('warning:')} ${redactTokenLike(safeText(message))}\n`),
      });
    },
  };
  return deps;
}
