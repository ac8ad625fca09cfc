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
  /** Colour for stderr (progress, warnings); off with NO_COLOR or when stderr is not a terminal. */
  readonly style: ChalkInstance;
  /** Colour for results on stdout (tables); off with NO_COLOR or when stdout is not a terminal (`> file`). */
  readonly outStyle: ChalkInstance;
  readStdin(): Promise<string>;
}

type Env = Record<string, string | undefined>;

export function colorEnabled(env: Env, isTTY: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return isTTY;
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

export function captureIO(options: { tty?: boolean; stdin?: string } = {}): CapturedIO {
  let out = '';
  let err = '';
  const tty = options.tty ?? false;
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stdinIsTTY: tty,
    stdoutIsTTY: tty,
    stderrIsTTY: tty,
    style: plainStyle,
    outStyle: plainStyle,
    readStdin: async () => options.stdin ?? '',
    stdout: () => out,
    stderr: () => err,
  };
}
