import { userInfo } from 'node:os';
import { drillClock, offsetClock, parseInstant, systemClock, type Clock, type DrillClock } from './core/clock.js';
import { UsageError } from './core/errors.js';
import type { TokenBackend } from './backends/token-backend.js';
import { profileDir, tokenctlHome } from './config/paths.js';
import { readProfileConfig, type ProfileConfig } from './config/profiles-read.js';
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
  /** The command's clock. In a drill (TOKENCTL_NOW) it stands at the drill instant and moves on only by `sleep`. */
  clock: Clock;
  /**
   * The clock of a long-running service (`serve`): in a drill it starts at TOKENCTL_NOW and runs on in real time.
   * Absent: use `clock`.
   */
  serviceClock?: Clock;
  prompter(): Prompter;
  /**
   * The saved profiles (<home>/config.json), read once per command: the profile selection and the backend both need
   * them. Absent (tests): each reads the file.
   */
  savedProfiles?(): ProfileConfig;
  backend(globals: GlobalOptions): Promise<TokenBackend>;
  /** Waiting (rotate --wait); tests move their clock instead. */
  sleep(ms: number): Promise<void>;
  /**
   * Test hook for crash-safety tests: TOKENCTL_CRASH_AFTER=<step> kills the process (SIGKILL) right after that
   * step of a rotation was recorded, as a power cut would.
   */
  crashPoint(step: string): void;
}

/** TOKENCTL_NOW, parsed; null when it is not set. */
export function drillInstant(env: Env): Date | null {
  const at = env.TOKENCTL_NOW;
  if (at === undefined || at === '') return null;
  const start = parseInstant(at);
  if (!start) throw new UsageError(`TOKENCTL_NOW='${at.slice(0, 40)}' is not an ISO-8601 instant; use e.g. 2026-01-31T12:00:00Z`);
  return start;
}

/**
 * TOKENCTL_NOW: an ISO-8601 instant taken as "now". A command runs at that instant (it moves on only by the time
 * the command waits, see drillClock); `running` (the service) starts there and runs on in real time.
 */
export function clockFromEnv(env: Env, options: { running?: boolean } = {}): Clock {
  const start = drillInstant(env);
  if (!start) return systemClock;
  return options.running ? offsetClock(start) : drillClock(start);
}

/** Who is acting, for the local audit trail: the OS user. */
export function osActor(): string {
  try {
    return `os:${userInfo().username}`;
  } catch {
    return `os:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

export async function createDeps(env: Env): Promise<Deps> {
  const io = await processIO(env);
  let clock: Clock | undefined;
  let serviceClock: Clock | undefined;
  // Kept once read; a failure (an unreadable file) is not kept, so each caller reports it.
  let saved: ProfileConfig | undefined;
  const savedProfiles = () => (saved ??= readProfileConfig(env));
  const warn = (message: string) => io.err(`${io.style.yellow('warning:')} ${redactTokenLike(safeText(message))}\n`);
  const deps: Deps = {
    io,
    env,
    get clock() {
      return (clock ??= clockFromEnv(env));
    },
    get serviceClock() {
      return (serviceClock ??= clockFromEnv(env, { running: true }));
    },
    prompter: inquirerPrompter,
    savedProfiles,
    sleep: async (ms) => {
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      // A drill's clock moves on by the time waited, so rotate --wait sees the replacement become active.
      const c = deps.clock as Partial<DrillClock>;
      c.waited?.(Date.now() - started);
    },
    crashPoint: (step) => {
      if (env.TOKENCTL_CRASH_AFTER === step) process.kill(process.pid, 'SIGKILL');
    },
    async backend(globals) {
      // A token service when TOKENCTL_SERVER is set (CI) or the profile was saved by `tokenctl login`.
      if (env.TOKENCTL_SERVER || savedProfiles().profiles[globals.profile]) {
        const { httpBackendFor } = await import('./backends/http/select.js');
        const remote = httpBackendFor(env, globals.profile, savedProfiles);
        if (remote) {
          if (drillInstant(env)) {
            // Only the service's clock decides what is pending, usable or rejected; TOKENCTL_NOW here changes nothing there.
            warn(
              `TOKENCTL_NOW is set, but the token service ${remote.location} keeps its own clock: it decides what is pending, active, draining and revoked by its time, not by TOKENCTL_NOW. Drill against a local store (its own TOKENCTL_HOME), or start the service itself with TOKENCTL_NOW`,
            );
          }
          return remote;
        }
      }
      return new FileBackend({
        dir: profileDir(tokenctlHome(env), globals.profile),
        clock: deps.clock,
        env,
        // Asked of the OS only when a change is recorded (os.userInfo reads the user database).
        actor: osActor,
        warn,
      });
    },
  };
  return deps;
}
