import type { IO } from './io.js';

/**
 * The token service's request log on stdout: lines batched (at most `maxDelayMs` late, or less once a batch reaches
 * `maxBytes`) and written asynchronously (node:fs's write, on libuv's thread pool), in order, so that neither a line
 * nor a slow reader of the log (a pipe to journald, say) costs a request a system call or a wait. When more than
 * `maxQueuedBytes` wait behind the writes under way (the reader is far behind), a batch is written synchronously
 * instead: the log then slows the service down rather than lose lines or grow without bound (such a batch can land
 * before one still being written). Into a terminal, or where stdout cannot be written asynchronously, lines go
 * through `io.out`, in order with the process's other output.
 */
export interface LogWriter {
  write(line: string): void;
  /** Writes everything waiting; resolves once it is written (at shutdown). */
  flush(): Promise<void>;
  /** Writes what has not started being written, synchronously (the process is exiting: nothing asynchronous runs). */
  flushNow(): void;
}

export interface LogWriterOptions {
  maxDelayMs: number;
  maxBytes: number;
  maxQueuedBytes?: number;
  /** The descriptor written to: stdout (tests give a file's). */
  fd?: number;
}

export function logWriter(io: Pick<IO, 'out' | 'stdoutIsTTY'>, o: LogWriterOptions): LogWriter {
  const fs = process.getBuiltinModule('node:fs') as typeof import('node:fs');
  const maxQueued = o.maxQueuedBytes ?? 8 * 1024 * 1024;
  const fd = o.fd ?? 1;
  let pending: string[] = [];
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The writes under way, in order, and how many bytes they hold. */
  let chain: Promise<void> = Promise.resolve();
  let queued = 0;
  // Asynchronously only into a file or a pipe.
  let direct = process.platform !== 'win32' && !io.stdoutIsTTY;

  const take = (): string | null => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return null;
    const text = pending.join('');
    pending = [];
    bytes = 0;
    return text;
  };

  const writeAsync = (buffer: Buffer): Promise<void> =>
    new Promise((resolve) => {
      const from = (offset: number) =>
        fs.write(fd, buffer, offset, buffer.length - offset, null, (error, written) => {
          if (error) {
            // Not writable asynchronously (EAGAIN: someone made it non-blocking) or gone: the IO decides from now on,
            // as for every other output of the process (it stops writing to a reader that went away).
            direct = false;
            io.out(buffer.subarray(offset).toString('utf8'));
            return resolve();
          }
          if (offset + written < buffer.length) return from(offset + written);
          resolve();
        });
      from(0);
    });

  const send = () => {
    const text = take();
    if (text === null) return;
    if (!direct || queued + text.length > maxQueued) return io.out(text);
    const buffer = Buffer.from(text, 'utf8');
    queued += buffer.length;
    chain = chain.then(() => writeAsync(buffer)).then(() => void (queued -= buffer.length));
  };

  return {
    write(line) {
      pending.push(line);
      bytes += line.length;
      if (bytes >= o.maxBytes) send();
      else if (timer === undefined) {
        timer = setTimeout(send, o.maxDelayMs);
        timer.unref();
      }
    },
    async flush() {
      send();
      await chain;
    },
    flushNow() {
      const text = take();
      if (text !== null) io.out(text);
    },
  };
}
