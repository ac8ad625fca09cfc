import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Transform, type Readable, type Writable } from 'node:stream';
import { StreamMasker } from './masker.js';

/**
 * Runs a child with extra environment variables, its stdin/stdout/stderr passed through, and forwards the
 * signals a parent receives. This and src/ui are the only places that touch the process's streams: exec hands
 * them to the child.
 */
export interface RunChildOptions {
  command: string;
  /** The child's argv[0], when `command` is the path it was found at (exec: the name as typed). */
  argv0?: string;
  args: readonly string[];
  env: Record<string, string | undefined>;
  /** Values to replace with *** in the child's stdout and stderr; none means the streams are inherited. */
  maskValues?: readonly string[];
  /** The child's stdout goes to our stderr (rotate --exec: tokenctl's stdout is for results only). */
  stdoutToStderr?: boolean;
  /** Running on a terminal: terminal-generated signals reach the child directly and are not forwarded. */
  interactive?: boolean;
}

export type ChildOutcome =
  | { kind: 'exited'; code: number }
  | { kind: 'signalled'; signal: NodeJS.Signals; code: number }
  | { kind: 'failed'; reason: 'not-found' | 'not-executable' | 'other'; code: number; errno?: string };

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

function maskingStream(masker: StreamMasker): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const out = masker.push(chunk);
      done(null, out.length > 0 ? out : undefined);
    },
    flush(done) {
      const out = masker.flush();
      done(null, out.length > 0 ? out : undefined);
    },
  });
}

/**
 * Pipes without ending the target (process.stdout must stay open), resolving when everything was written. When
 * the target breaks (`tokenctl exec --mask -- yes | head -1`), the child gets SIGPIPE, as it would have without
 * tokenctl in between, and its end is closed.
 */
async function forwardMasked(source: Readable, target: Writable, masker: StreamMasker, onBroken: () => void): Promise<void> {
  const transform = maskingStream(masker);
  let broken = false;
  const onError = () => {
    broken = true;
    onBroken();
    source.destroy();
    transform.destroy();
  };
  target.on('error', onError);
  source.pipe(transform);
  try {
    for await (const chunk of transform) {
      if (broken) break;
      if (!target.write(chunk as Buffer)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            target.off('drain', done);
            target.off('error', done);
            resolve();
          };
          target.on('drain', done);
          target.on('error', done);
        });
      }
    }
  } catch {
    // the transform was destroyed because the target broke
  } finally {
    // After a failure the listener stays, so a late EPIPE is not an unhandled error.
    if (!broken) target.off('error', onError);
  }
}

export async function runChild(options: RunChildOptions): Promise<ChildOutcome> {
  const mask = options.maskValues !== undefined && options.maskValues.length > 0;
  // Signals go to the child; tokenctl stays alive until the child is gone, then exits with its status. The
  // usual Ctrl-C handler (exit 10 at once) would orphan the child, so it is set aside meanwhile.
  const saved = new Map(FORWARDED.map((s) => [s, process.rawListeners(s)] as const));
  for (const s of FORWARDED) process.removeAllListeners(s);

  const child = spawn(options.command, [...options.args], {
    argv0: options.argv0,
    env: options.env,
    stdio: mask ? ['inherit', 'pipe', 'pipe'] : options.stdoutToStderr ? ['inherit', 2, 'inherit'] : 'inherit',
  });
  const forward = (signal: NodeJS.Signals) => {
    // Ctrl-C and Ctrl-\ on a terminal already reach the child (the kernel signals the whole foreground process
    // group); sending them again would make a program that treats a second Ctrl-C as "abort now" abort.
    if (options.interactive && (signal === 'SIGINT' || signal === 'SIGQUIT')) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of FORWARDED) process.on(s, forward);

  const copies: Promise<void>[] = [];
  if (mask) {
    const values = options.maskValues!;
    // Like a shell pipeline: a reader that went away ends the writer with SIGPIPE.
    const broken = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGPIPE');
    };
    copies.push(forwardMasked(child.stdout!, process.stdout, new StreamMasker(values), broken));
    copies.push(forwardMasked(child.stderr!, process.stderr, new StreamMasker(values), broken));
  }

  try {
    const outcome = await new Promise<ChildOutcome>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) return; // an error after start (e.g. kill failed); 'exit' still comes
        if (error.code === 'ENOENT') resolve({ kind: 'failed', reason: 'not-found', code: 127, errno: error.code });
        else if (error.code === 'EACCES' || error.code === 'EISDIR') resolve({ kind: 'failed', reason: 'not-executable', code: 126, errno: error.code });
        else resolve({ kind: 'failed', reason: 'other', code: 126, errno: error.code });
      });
      child.once('exit', (code, signal) => {
        if (signal) resolve({ kind: 'signalled', signal, code: 128 + (constants.signals[signal] ?? 0) });
        else resolve({ kind: 'exited', code: code ?? 1 });
      });
    });
    await Promise.allSettled(copies);
    return outcome;
  } finally {
    for (const s of FORWARDED) {
      process.removeListener(s, forward);
      for (const listener of saved.get(s) ?? []) process.on(s, listener as (signal: NodeJS.Signals) => void); // raw: a once-wrapper stays once
    }
  }
}

