import { fstatSync, writeSync } from 'node:fs';
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
  /** The same for stderr (help printed after a usage error is wrapped to it). */
  readonly errColumns: number | undefined;
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
 * tools (chalk's supports-color, CLICOLOR) do. `isTTY` may be a question, asked only when the variables leave it open.
 */
export function colorEnabled(env: Env, isTTY: boolean | (() => boolean)): boolean {
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR.trim().toLowerCase());
  if (set(env.CLICOLOR_FORCE) && env.CLICOLOR_FORCE !== '0') return true;
  if (set(env.NO_COLOR)) return false;
  if (env.TERM === 'dumb') return false;
  return typeof isTTY === 'function' ? isTTY() : isTTY;
}

/** A terminal's width: the real one, else COLUMNS (set by shells, or by hand), else unknown. */
export function terminalColumns(real: number | undefined, env: Env): number | undefined {
  if (real !== undefined && real > 0) return real;
  const fromEnv = Number.parseInt(env.COLUMNS ?? '', 10);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}

/** No colour: every style is the identity, however it is chained (`style.red.bold(text)`). */
export const plainStyle = new Proxy((text: unknown) => String(text), {
  get: (target, key) => (key === 'level' ? 0 : key in Function.prototype ? Reflect.get(target, key) : plainStyle),
}) as ChalkInstance;

/**
 * Is this descriptor a terminal? A terminal is a character device, so a pipe or a file is known not to be one from
 * fstat alone; only a character device (a terminal, /dev/null) is asked of node:tty, which loads the network stack
 * with it: a script's `tokenctl list --json | jq` never pays for that.
 */
function isTerminal(fd: 0 | 1 | 2): boolean {
  if (process.platform !== 'win32') {
    try {
      if (!fstatSync(fd).isCharacterDevice()) return false;
    } catch {
      return false; // a closed descriptor is no terminal (isatty says the same)
    }
  }
  return (process.getBuiltinModule('node:tty') as typeof import('node:tty')).isatty(fd);
}

/** A question asked once, when first needed. */
function once<T>(ask: () => T): () => T {
  let answered = false;
  let answer: T;
  return () => {
    if (!answered) {
      answer = ask();
      answered = true;
    }
    return answer;
  };
}

/** Streams whose reader went away (EPIPE, `tokenctl ... | head -1`): they never drain, so nothing to wait for. */
const brokenStreams = new WeakSet<NodeJS.WriteStream>();
const usedStreams = new Set<NodeJS.WriteStream>();
/** Which of the two has been set up, by anyone here (the prompts draw on stderr's stream, say). */
const streamInUse = { stdout: false, stderr: false };

/**
 * process.stdout or process.stderr, watched from its first use for a reader that went away (which is then never
 * waited for). Node sets a stream up on first use: a command that prints nothing on stderr never pays for one.
 */
export function processStream(name: 'stdout' | 'stderr'): NodeJS.WriteStream {
  const stream = process[name];
  streamInUse[name] = true;
  if (!usedStreams.has(stream)) {
    usedStreams.add(stream);
    stream.on('error', () => brokenStreams.add(stream));
  }
  return stream;
}

/**
 * Waits until the streams used so far have handed everything written to them on, so that exiting loses nothing (a
 * pipe whose reader is slow keeps a queue). A broken stream is not waited for.
 */
export async function drainProcessStreams(): Promise<void> {
  await Promise.all(
    [...usedStreams].map(async (stream) => {
      // Waiting on a broken stream would leave an empty event loop: the process would end with code 0.
      if (stream.writableLength === 0 || brokenStreams.has(stream)) return;
      // An empty write's callback comes once everything written before it is out (or the stream failed).
      await new Promise((resolve) => stream.write('', resolve));
    }),
  );
}

/**
 * Writes to stdout (fd 1) or stderr (fd 2). Into a pipe or a file (not a terminal, not Windows) the text is written
 * with write(2) directly, as process.stdout does there anyway (synchronously), without setting up a stream; a
 * terminal, a descriptor that would block (EAGAIN: someone made it non-blocking), a stream someone else here writes
 * to, and every write after that go through the process's stream, so nothing is reordered. A reader that went away
 * (EPIPE) or a descriptor that fails ends the output, as an 'error' of the stream does.
 */
function outputTo(fd: 1 | 2, name: 'stdout' | 'stderr', isTTY: () => boolean): (text: string) => void {
  let mode: 'direct' | 'stream' | 'broken' | undefined;
  return (text) => {
    mode ??= process.platform !== 'win32' && !isTTY() ? 'direct' : 'stream';
    if (mode === 'direct' && streamInUse[name]) mode = 'stream';
    if (mode === 'broken') return;
    if (mode === 'stream') return void processStream(name).write(text);
    const bytes = Buffer.from(text, 'utf8');
    let done = 0;
    while (done < bytes.length) {
      try {
        done += writeSync(fd, bytes, done);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EINTR') continue;
        if (code !== 'EAGAIN') {
          mode = 'broken';
          return;
        }
        mode = 'stream';
        return void processStream(name).write(bytes.subarray(done));
      }
    }
  };
}

/** The process's streams. chalk is loaded only when some stream will actually be coloured. */
export async function processIO(env: Env): Promise<IO> {
  // Asked when first needed (not process.stdin.isTTY: touching process.stdin would set up a stream no command may need).
  const stdinIsTTY = once(() => isTerminal(0));
  const stdoutIsTTY = once(() => isTerminal(1));
  const stderrIsTTY = once(() => isTerminal(2));
  const colorOut = colorEnabled(env, stdoutIsTTY);
  const colorErr = colorEnabled(env, stderrIsTTY);
  const Chalk = colorOut || colorErr ? (await import('chalk')).Chalk : null;
  return {
    out: outputTo(1, 'stdout', stdoutIsTTY),
    err: outputTo(2, 'stderr', stderrIsTTY),
    get stdinIsTTY() {
      return stdinIsTTY();
    },
    get stdoutIsTTY() {
      return stdoutIsTTY();
    },
    get stderrIsTTY() {
      return stderrIsTTY();
    },
    get columns() {
      return stdoutIsTTY() ? terminalColumns(processStream('stdout').columns, env) : undefined;
    },
    get errColumns() {
      return stderrIsTTY() ? terminalColumns(processStream('stderr').columns, env) : undefined;
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
    errColumns: options.columns,
    style: plainStyle,
    outStyle: plainStyle,
    readStdin: async () => options.stdin ?? '',
    stdout: () => out,
    stderr: () => err,
  };
}
