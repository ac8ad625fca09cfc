import type { IO } from './io.js';

/**
 * The token service's request log on stdout: lines batched (at most `maxDelayMs` late, or less once a batch reaches
 * `maxBytes`) and written asynchronously (node:fs's write, on libuv's thread pool), in order, so that neither a line
 * nor a slow reader of the log (a pipe to journald, say) costs a request a system call or a wait. When more than
 * `maxQueuedBytes` wait behind the writes under way (the reader is far behind), a batch is written synchronously
 * instead: the log then slows the service down rather than lose lines or grow without bound (such a batch can land
 * before one still being written). Into a terminal, or where stdout cannot be written asynchronously, lines go
 * through `io.out`, in order with the process's other output.
 *
 * A batch is bytes, not strings: a string line (pino's) is copied into it as UTF-8, and a writer that makes its lines
 * as bytes (the introspection door's, http/plugins/request-log.ts) writes them straight into it (`reserve`, then
 * `commit`): no string, no garbage per line.
 */
export interface LogWriter {
  write(line: string): void;
  /**
   * Room for one line of at most `max` bytes (lines reserve at most MAX_RESERVED; a longer one gets a batch of its
   * own): afterwards `batch` has at least `max` bytes free from `used`. The line is written there, then `commit`ted
   * with where it ends.
   */
  reserve(max: number): void;
  /** The batch being filled (replaced once it is sent: read it after `reserve`). */
  readonly batch: Buffer;
  /** How many bytes of `batch` are lines already. */
  readonly used: number;
  /** The reserved line ends at `end` (at most `used` + the reserved `max`). */
  commit(end: number): void;
  /** Writes everything waiting; resolves once it is written (at shutdown). */
  flush(): Promise<void>;
  /**
   * Writes what has not started being written (batches sent but waiting behind a write, then the one being filled),
   * synchronously: the process is exiting, nothing asynchronous runs.
   */
  flushNow(): void;
}

export interface LogWriterOptions {
  maxDelayMs: number;
  maxBytes: number;
  maxQueuedBytes?: number;
  /** The descriptor written to: stdout (tests give a file's). */
  fd?: number;
}

/** What a batch always has room for beyond `maxBytes`: the most a line should `reserve`. */
export const MAX_RESERVED = 4096;

export function logWriter(io: Pick<IO, 'out' | 'stdoutIsTTY'>, o: LogWriterOptions): LogWriter {
  const fs = process.getBuiltinModule('node:fs') as typeof import('node:fs');
  const maxQueued = o.maxQueuedBytes ?? 8 * 1024 * 1024;
  const fd = o.fd ?? 1;
  // A batch is sent once it holds maxBytes; the room beyond is for the line that crosses it.
  const capacity = o.maxBytes + MAX_RESERVED;
  /**
   * Batches whose write has finished, to fill again: a service logging steadily alternates between two or three, and
   * allocates none (a new buffer per batch would make V8 collect garbage more often, for its memory outside the heap).
   */
  const spare: Buffer[] = [];
  const newBatch = () => spare.pop() ?? Buffer.allocUnsafeSlow(capacity);
  /** A batch written (`lines`, the start of it): kept to fill again, a few at most. */
  const done = (lines: Buffer) => {
    if (spare.length < 4) spare.push(Buffer.from(lines.buffer, lines.byteOffset, capacity));
  };
  let batch = newBatch();
  let used = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The writes under way, in order, and how many bytes they hold. */
  let chain: Promise<void> = Promise.resolve();
  let queued = 0;
  // Asynchronously only into a file or a pipe.
  let direct = process.platform !== 'win32' && !io.stdoutIsTTY;

  /** The lines waiting, taken out of the batch (a new one is filled from now on); null when there are none. */
  const take = (): Buffer | null => {
    clearTimeout(timer);
    timer = undefined;
    if (used === 0) return null;
    const lines = batch.subarray(0, used);
    batch = newBatch();
    used = 0;
    return lines;
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

  /** Sent, waiting for the writes before them to finish, in order: what `flushNow` still writes at exit. */
  const notStarted: Buffer[] = [];

  /** Writes `buffer`; `reusable`: it is one of the batches, to fill again once written. */
  const sendBytes = (buffer: Buffer, reusable: boolean) => {
    if (!direct || queued + buffer.length > maxQueued) {
      io.out(buffer.toString('utf8'));
      if (reusable) done(buffer);
      return;
    }
    queued += buffer.length;
    notStarted.push(buffer);
    chain = chain
      .then(() => {
        // Already written by flushNow (the process is exiting) when it is no longer first in line.
        if (notStarted[0] !== buffer) return;
        notStarted.shift();
        return writeAsync(buffer);
      })
      .then(() => {
        queued -= buffer.length;
        if (reusable) done(buffer);
      });
  };

  const send = () => {
    const lines = take();
    if (lines !== null) sendBytes(lines, true);
  };

  /** A line is in the batch: the batch goes once it holds maxBytes, else within maxDelayMs. */
  const added = () => {
    if (used >= o.maxBytes) send();
    else if (timer === undefined) {
      timer = setTimeout(send, o.maxDelayMs);
      timer.unref();
    }
  };

  return {
    write(line) {
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      if (line.length * 3 > capacity - used) {
        send();
        if (line.length * 3 > capacity) {
          // Longer than a batch can hold: on its own, in order after what was waiting.
          sendBytes(Buffer.from(line, 'utf8'), false);
          return;
        }
      }
      used += batch.write(line, used, 'utf8');
      added();
    },
    reserve(max) {
      if (max > capacity - used) {
        send();
        // A line longer than a batch (none is: lines reserve at most MAX_RESERVED): a batch of its own size, once.
        if (max > capacity) batch = Buffer.allocUnsafeSlow(max);
      }
    },
    get batch() {
      return batch;
    },
    get used() {
      return used;
    },
    commit(end) {
      used = end;
      added();
    },
    async flush() {
      send();
      await chain;
    },
    flushNow() {
      // The batches sent but not yet being written, then the one being filled; one being written finishes by itself.
      for (const waiting of notStarted.splice(0)) io.out(waiting.toString('utf8'));
      const lines = take();
      if (lines !== null) {
        io.out(lines.toString('utf8'));
        done(lines);
      }
    },
  };
}
