import { isatty } from 'node:tty';
import type { ChalkInstance } from 'chalk';

/**
 * The only place that knows about the process's streams. Results go to stdout, everything else (progress,
 * warnings, prompts) to stderr, so `tokenctl get x > file` writes the value and nothing else.
 */
export interface IO {
  out(text: string): void;
  err(text: string): void;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  /** The width of the terminal stdout is, in columns (else COLUMNS, when set); undefined when unknown. */
  readonly columns: number | undefined;
  /** Colour for stderr (progress, warnings); off with NO_COLOR or when stderr is not a terminal. */
  readonly style: ChalkInstance;
  /** Colour for results on stdout (tables); off with NO_COLOR or when stdout is not a terminal (`> file`). */
  readonly outStyle: ChalkInstance;
  readStdin(): Promise<string>;
}

type Env = Record<string, string | undefined>;

const set = (v: string | undefined) => v !== undefined && v !== '';

/**
 * Colour on a terminal unless NO_COLOR is set or TERM=dumb (no-color.org); FORCE_COLOR (any value but 0 or false)
 * or CLICOLOR_FORCE (any value but 0) forces it even into a pipe or a file, and wins over NO_COLOR, as the common
 * tools (chalk's supports-color, CLICOLOR) do.
 */
export function colorEnabled(env: Env, isTTY: boolean): boolean {
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR.trim().toLowerCase());
  if (set(env.CLICOLOR_FORCE) && env.CLICOLOR_FORCE !== '0') return true;
  if (set(env.NO_COLOR)) return false;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

/** A terminal's width: the real one, else COLUMNS (set by shells, or by hand), else unknown. */
export function terminalColumns(real: number | undefined, env: Env): number | undefined {
  if (real !== undefined && real > 0) return real;
  const fromEnv = Number.parseInt(env.COLUMNS ?? '', 10);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}

/** No colour: every style is the identity, however it is chained (`style.red.bold(text)`). */
export const plainStyle: ChalkInstance = new Proxy(((text: unknown) => String(text)) as unknown as ChalkInstance, {
  get: (target, key) => (key === 'level' ? 0 : key in Function.prototype ? Reflect.get(target, key) : plainStyle),
});

/** The process's streams. chalk is loaded only when some stream will actually be coloured. */
export async function processIO(env: Env): Promise<IO> {
  // isatty, not process.stdin.isTTY: touching process.stdin would set up a stream no command may need.
  const stdinIsTTY = isatty(0);
  const stdoutIsTTY = isatty(1);
  const stderrIsTTY = isatty(2);
  const colorOut = colorEnabled(env, stdoutIsTTY);
  const colorErr = colorEnabled(env, stderrIsTTY);
  const Chalk = colorOut || colorErr ? (await import('chalk')).Chalk : null;
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdinIsTTY,
    stdoutIsTTY,
    stderrIsTTY,
    get columns() {
      return stdoutIsTTY ? terminalColumns(process.stdout.columns, env) : undefined;
    },
    style: Chalk && colorErr ? new Chalk({ level: 1 }) : plainStyle,
    outStyle: Chalk && colorOut ? new Chalk({ level: 1 }) : plainStyle,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** An IO that records what a command printed, for in-process tests. */
export interface CapturedIO extends IO {
  stdout(): string;
  stderr(): string;
}

export function captureIO(options: { tty?: boolean; stdin?: string; columns?: number } = {}): CapturedIO {
  let out = '';
  let err = '';
  const tty = options.tty ?? false;
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdinIsTTY: tty,
    stdoutIsTTY: tty,
    stderrIsTTY: tty,
    columns: options.columns,
    style: plainStyle,
    outStyle: plainStyle,
    readStdin: async () => options.stdin ?? '',
    stdout: () => out,
    stderr: () => err,
  };
}
