import { describe, expect, it, vi } from 'vitest';
import { LastUsedRecorder } from '../../../src/server/usage/last-used.js';
import type { LastUsedSink } from '../../../src/storage/service-port.js';

/** A store that records the batches it is asked to write (and can be told to fail once). */
function recordingStore() {
  const batches: Map<string, string>[] = [];
  let failNext = false;
  const store: LastUsedSink = {
    recordLastUsed: (batch: ReadonlyMap<string, string>) => {
      if (failNext) {
        failNext = false;
        throw new Error('database is locked');
      }
      batches.push(new Map(batch));
    },
  };
  return { store, batches, failOnce: () => (failNext = true) };
}

describe('LastUsedRecorder', () => {
  it('writes one batch per interval with the newest time per token, not a write per use', async () => {
    const { store, batches } = recordingStore();
    const recorder = new LastUsedRecorder(store, () => undefined, 50);
    recorder.record('tok_a', new Date('2026-03-01T10:00:00Z'));
    recorder.record('tok_a', new Date('2026-03-01T10:00:05Z'));
    recorder.record('tok_a', new Date('2026-03-01T10:00:01Z')); // older: ignored
    recorder.record('tok_b', new Date('2026-03-01T10:00:02Z'));
    expect(batches).toHaveLength(0);
    expect(recorder.peek('tok_a')).toBe('2026-03-01T10:00:05.000Z');
    await vi.waitFor(() => expect(batches).toHaveLength(1), { timeout: 2_000, interval: 10 });
    expect(batches).toEqual([new Map([['tok_a', '2026-03-01T10:00:05.000Z'], ['tok_b', '2026-03-01T10:00:02.000Z']])]);
    expect(recorder.size).toBe(0);
    recorder.stop();
  });

  it('keeps a batch that failed for the next flush, and flushes on stop', () => {
    const { store, batches, failOnce } = recordingStore();
    const errors: unknown[] = [];
    const recorder = new LastUsedRecorder(store, (e) => errors.push(e), 0);
    recorder.record('tok_a', new Date('2026-03-01T10:00:00Z'));
    failOnce();
    recorder.flush();
    expect(errors).toHaveLength(1);
    expect(recorder.size).toBe(1);
    recorder.record('tok_a', new Date('2026-03-01T10:01:00Z'));
    recorder.stop();
    expect(batches).toEqual([new Map([['tok_a', '2026-03-01T10:01:00.000Z']])]);
  });

  it('with an asynchronous storage (PostgreSQL), still shows a batch while it is being written, and writes what came meanwhile after it', async () => {
    const written: Map<string, string>[] = [];
    let finish!: () => void;
    const store = {
      recordLastUsed: (batch: ReadonlyMap<string, string>) =>
        new Promise<void>((resolve) => {
          finish = () => {
            written.push(new Map(batch));
            resolve();
          };
        }),
    };
    const recorder = new LastUsedRecorder(store, () => undefined, 0);
    recorder.record('tok_a', new Date('2026-03-01T10:00:00Z'));
    const first = recorder.flush();
    // The database does not have it yet: the time must not vanish from what the service shows.
    expect(recorder.peek('tok_a')).toBe('2026-03-01T10:00:00.000Z');
    recorder.record('tok_b', new Date('2026-03-01T10:00:01Z'));
    const second = recorder.flush(); // waits for the first write, then writes tok_b
    const finishFirst = finish;
    finishFirst();
    await first;
    // The second write starts once the first is done.
    await vi.waitFor(() => expect(finish).not.toBe(finishFirst), { interval: 1 });
    finish();
    await second;
    expect(written).toEqual([new Map([['tok_a', '2026-03-01T10:00:00.000Z']]), new Map([['tok_b', '2026-03-01T10:00:01.000Z']])]);
    expect(recorder.peek('tok_a')).toBeUndefined();
  });
});
