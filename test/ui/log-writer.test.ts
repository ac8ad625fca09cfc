import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logWriter, MAX_RESERVED } from '../../src/ui/log-writer.js';

let dir: string | undefined;
afterEach(() => {
  vi.useRealTimers();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A file to write the log into (as stdout would be, a file or a pipe), and what the IO got instead. */
function target() {
  dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-log-writer-'));
  const file = path.join(dir, 'log');
  const fd = openSync(file, 'w');
  const direct: string[] = [];
  return { fd, read: () => readFileSync(file, 'utf8'), close: () => closeSync(fd), io: { out: (t: string) => void direct.push(t), stdoutIsTTY: false }, direct };
}

describe('the request log writer', () => {
  it('writes a burst of lines in one batch at most maxDelayMs later, asynchronously, in order', async () => {
    vi.useFakeTimers();
    const t = target();
    const logs = logWriter(t.io, { maxDelayMs: 100, maxBytes: 1024, fd: t.fd });
    logs.write('a\n');
    logs.write('b\n');
    vi.advanceTimersByTime(99);
    await vi.runAllTicks();
    expect(t.read()).toBe('');
    vi.advanceTimersByTime(1);
    vi.useRealTimers();
    await logs.flush();
    expect(t.read()).toBe('a\nb\n');
    logs.write('c\n');
    await logs.flush();
    expect(t.read()).toBe('a\nb\nc\n');
    expect(t.direct).toEqual([]); // nothing went through the synchronous IO
    t.close();
  });

  it('starts a write when a batch reaches maxBytes, keeps the order of batches, and writes what waits on flushNow', async () => {
    const t = target();
    const logs = logWriter(t.io, { maxDelayMs: 60_000, maxBytes: 10, fd: t.fd });
    for (let i = 0; i < 50; i++) logs.write(`line ${String(i).padStart(2, '0')}\n`);
    await logs.flush();
    const lines = t.read().trimEnd().split('\n');
    expect(lines).toEqual(Array.from({ length: 50 }, (_, i) => `line ${String(i).padStart(2, '0')}`));
    logs.write('last\n');
    logs.flushNow(); // the process is exiting: written synchronously through the IO
    expect(t.direct).toEqual(['last\n']);
    t.close();
  });

  it('writes synchronously rather than queue without bound when the reader is far behind', async () => {
    const t = target();
    const logs = logWriter(t.io, { maxDelayMs: 60_000, maxBytes: 4, maxQueuedBytes: 12, fd: t.fd });
    logs.write('aaaa\n'); // a write starts
    logs.write('bbbb\n'); // queued behind it (10 bytes waiting)
    logs.write('cccc\n'); // beyond the bound: through the IO at once
    expect(t.direct).toEqual(['cccc\n']);
    await logs.flush();
    expect(t.read()).toBe('aaaa\nbbbb\n');
    t.close();
  });

  it('keeps lines written as bytes (reserve, commit) in order with string lines, across batches, UTF-8 included', async () => {
    const t = target();
    const logs = logWriter(t.io, { maxDelayMs: 60_000, maxBytes: 64, fd: t.fd });
    const bytesLine = (text: string) => {
      const bytes = Buffer.from(text, 'utf8');
      logs.reserve(bytes.length);
      const free = logs.batch.length - logs.used;
      expect(free).toBeGreaterThanOrEqual(bytes.length);
      bytes.copy(logs.batch, logs.used);
      logs.commit(logs.used + bytes.length);
    };
    const expected: string[] = [];
    for (let i = 0; i < 300; i++) {
      const line = i % 3 === 0 ? `bytes ${i} é\n` : i % 3 === 1 ? `string ${i} ☃\n` : `${'long '.repeat(200)}${i}\n`;
      if (i % 3 === 0) bytesLine(line);
      else logs.write(line);
      expected.push(line);
    }
    // A string longer than a batch can hold goes on its own, still in order.
    const huge = `${'x'.repeat(MAX_RESERVED * 2)}\n`;
    logs.write(huge);
    expected.push(huge);
    bytesLine('after\n');
    expected.push('after\n');
    await logs.flush();
    expect(t.read()).toBe(expected.join(''));
    expect(t.direct).toEqual([]);
    // A line reserving more than a batch holds gets a batch of its own, in order.
    const big = `${'b'.repeat(MAX_RESERVED + 100)}\n`;
    bytesLine(big);
    bytesLine('last\n');
    await logs.flush();
    expect(t.read()).toBe([...expected, big, 'last\n'].join(''));
    t.close();
  });

  it('writes at exit (flushNow) the batches still waiting behind a write, each line once', async () => {
    const t = target();
    const logs = logWriter(t.io, { maxDelayMs: 60_000, maxBytes: 8, fd: t.fd });
    const lines = Array.from({ length: 40 }, (_, i) => `line ${String(i).padStart(2, '0')}\n`);
    for (const line of lines) logs.write(line); // a batch per line: one being written, the rest waiting behind it
    logs.write('unsent\n'.slice(0, 3)); // in the batch being filled
    // Nothing asynchronous has run yet: no write has started, so everything goes through the IO, in order.
    logs.flushNow();
    expect(t.direct.join('')).toBe(`${lines.join('')}uns`);
    await logs.flush(); // the writes queued before find nothing left to write: no line twice
    expect(t.read()).toBe('');
    t.close();
  });

  it('goes on through the IO when the descriptor cannot be written', async () => {
    const direct: string[] = [];
    // A descriptor no process has open (EBADF): no other file of this process can be written by mistake.
    const logs = logWriter({ out: (text) => void direct.push(text), stdoutIsTTY: false }, { maxDelayMs: 60_000, maxBytes: 1, fd: 999_999 });
    logs.write('kept\n');
    await logs.flush();
    logs.write('after\n');
    await logs.flush();
    expect(direct.join('')).toBe('kept\nafter\n');
  });

  it('goes through the IO on a terminal', async () => {
    const t = target();
    const logs = logWriter({ ...t.io, stdoutIsTTY: true }, { maxDelayMs: 60_000, maxBytes: 1, fd: t.fd });
    logs.write('x\n');
    await logs.flush();
    expect(t.direct).toEqual(['x\n']);
    expect(t.read()).toBe('');
    t.close();
  });
});
