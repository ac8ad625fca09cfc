import { Chalk, type ChalkInstance } from 'chalk';

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

export function processIO(env: Env): IO {
  const stdoutIsTTY = Boolean(process.stdout.isTTY);
  const stderrIsTTY = Boolean(process.stderr.isTTY);
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    stdoutIsTTY,
    stderrIsTTY,
    style: new Chalk({ level: colorEnabled(env, stderrIsTTY) ? 1 : 0 }),
    outStyle: new Chalk({ level: colorEnabled(env, stdoutIsTTY) ? 1 : 0 }),
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
    style: new Chalk({ level: 0 }),
    outStyle: new Chalk({ level: 0 }),
    readStdin: async () => options.stdin ?? '',
    stdout: () => out,
    stderr: () => err,
  };
}
