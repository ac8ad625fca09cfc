import { afterEach, describe, expect, it, vi } from 'vitest';
import { batchLines } from '../../src/server/service.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('batchLines (request log lines)', () => {
  it('writes the lines of a burst together, at most maxDelayMs after the first', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const logs = batchLines((text) => writes.push(text), { maxDelayMs: 100, maxBytes: 1024 });
    logs.write('a\n');
    logs.write('b\n');
    vi.advanceTimersByTime(99);
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(writes).toEqual(['a\nb\n']);
    logs.write('c\n');
    vi.advanceTimersByTime(100);
    expect(writes).toEqual(['a\nb\n', 'c\n']);
    vi.advanceTimersByTime(1_000);
    expect(writes).toHaveLength(2); // nothing pending, nothing written
  });

  it('writes at once when a batch reaches maxBytes, and everything on flush', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const logs = batchLines((text) => writes.push(text), { maxDelayMs: 100, maxBytes: 10 });
    logs.write('12345\n');
    logs.write('67890\n');
    expect(writes).toEqual(['12345\n67890\n']);
    logs.write('tail\n');
    logs.flush();
    expect(writes).toEqual(['12345\n67890\n', 'tail\n']);
    vi.advanceTimersByTime(1_000);
    expect(writes).toHaveLength(2); // the timer of the flushed batch did not fire again
  });
});
