import { describe, expect, it } from 'vitest';
import { UsageRecorder } from '../../../src/server/usage/recorder.js';
import type { DrainingUseBuilder, TokenUsageDelta, UsageSink } from '../../../src/storage/service-port.js';

/** A store that records the batches it is asked to write (and can be told to fail once). */
function recordingStore() {
  const batches: TokenUsageDelta[][] = [];
  let failNext = false;
  const store: UsageSink = {
    recordUsage: (batch) => {
      if (failNext) {
        failNext = false;
        throw new Error('database is locked');
      }
      batches.push(batch.map((t) => ({ ...t, hours: [...t.hours], callers: [...t.callers] })));
    },
  };
  return { store, batches, failOnce: () => (failNext = true) };
}

const gw = { id: 'prn_gw', name: 'edge-gw' };
const billing = { id: 'prn_billing', name: 'billing' };
const alice = { id: 'prn_alice', name: 'alice' };
const at = (iso: string) => Date.parse(iso);

describe('UsageRecorder', () => {
  it('writes one batch per interval: the newest time per token, calls per hour and per caller, not a write per use', async () => {
    const { store, batches } = recordingStore();
    const recorder = new UsageRecorder(store, () => undefined, 50);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:00:00Z'), gw, '10.0.4.7', false);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:00:05Z'), gw, '10.0.4.7', false);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:00:01Z'), billing, '10.0.9.1', false); // older: the time stays
    recorder.recordIntrospection('tok_b', at('2026-03-01T10:00:02Z'), gw, '', false);
    recorder.recordRetrieval('tok_b', at('2026-03-01T10:00:03Z'), alice, '10.0.0.5');
    expect(batches).toHaveLength(0);
    expect(recorder.peek('tok_a')).toBe('2026-03-01T10:00:05.000Z');
    await new Promise((r) => setTimeout(r, 120));
    expect(batches).toHaveLength(1);
    const [a, b] = batches[0]!;
    expect(a).toMatchObject({ tokenId: 'tok_a', lastUsedAt: '2026-03-01T10:00:05.000Z', hours: [{ hour: '2026-03-01T10', calls: 3 }] });
    expect(a!.callers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'introspection', principalId: 'prn_gw', principalName: 'edge-gw', address: '10.0.4.7', calls: 2, firstAt: '2026-03-01T10:00:00.000Z', lastAt: '2026-03-01T10:00:05.000Z', drainingCalls: 0 }),
        expect.objectContaining({ principalId: 'prn_billing', address: '10.0.9.1', calls: 1 }),
      ]),
    );
    // A retrieval says who holds the value; it does not make the token "used" (no last-used time, no call counted).
    expect(b).toMatchObject({ tokenId: 'tok_b', lastUsedAt: '2026-03-01T10:00:02.000Z', hours: [{ hour: '2026-03-01T10', calls: 1 }] });
    expect(b!.callers).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'retrieval', principalName: 'alice', address: '10.0.0.5', calls: 1 })]));
    expect(recorder.size).toBe(0);
    await recorder.stop();
  });

  it('counts draining calls per caller, and hands the store the builder of the drain watch notification', () => {
    const seen: unknown[] = [];
    const builder: DrainingUseBuilder = () => null;
    const store: UsageSink = { recordUsage: (batch, onDrainingUse) => void seen.push({ batch, onDrainingUse }) };
    const recorder = new UsageRecorder(store, () => undefined, 0, builder);
    recorder.recordIntrospection('tok_old', at('2026-03-01T10:40:00Z'), gw, '10.0.4.7', true);
    recorder.recordIntrospection('tok_old', at('2026-03-01T10:41:00Z'), gw, '10.0.4.7', true);
    recorder.flush();
    expect(seen).toEqual([
      {
        batch: [expect.objectContaining({ callers: [expect.objectContaining({ drainingCalls: 2, drainingLastAt: '2026-03-01T10:41:00.000Z', calls: 2 })] })],
        onDrainingUse: builder,
      },
    ]);
  });

  it('a batch spanning the end of an hour counts each hour apart', () => {
    const { store, batches } = recordingStore();
    const recorder = new UsageRecorder(store, () => undefined, 0);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:59:59Z'), gw, '10.0.4.7', false);
    recorder.recordIntrospection('tok_a', at('2026-03-01T11:00:01Z'), gw, '10.0.4.7', false);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:59:58Z'), gw, '10.0.4.7', false); // late, from the hour before
    recorder.flush();
    expect([...batches[0]![0]!.hours].sort((x, y) => x.hour.localeCompare(y.hour))).toEqual([
      { hour: '2026-03-01T10', calls: 2 },
      { hour: '2026-03-01T11', calls: 1 },
    ]);
  });

  it('keeps a batch that failed for the next flush, adding what came meanwhile (counts add up, the newest time wins)', () => {
    const { store, batches, failOnce } = recordingStore();
    const errors: unknown[] = [];
    const recorder = new UsageRecorder(store, (e) => errors.push(e), 0);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:00:00Z'), gw, '10.0.4.7', false);
    failOnce();
    recorder.flush();
    expect(errors).toHaveLength(1);
    expect(recorder.size).toBe(1);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:01:00Z'), gw, '10.0.4.7', false);
    recorder.stop();
    expect(batches).toHaveLength(1);
    expect(batches[0]![0]).toMatchObject({ lastUsedAt: '2026-03-01T10:01:00.000Z', hours: [{ hour: '2026-03-01T10', calls: 2 }], callers: [expect.objectContaining({ calls: 2, firstAt: '2026-03-01T10:00:00.000Z' })] });
  });

  it('bounds the callers it keeps per token between writes: beyond 64 addresses, calls are counted without one', () => {
    const { store, batches } = recordingStore();
    const recorder = new UsageRecorder(store, () => undefined, 0);
    for (let i = 0; i < 200; i++) recorder.recordIntrospection('tok_a', at('2026-03-01T10:00:00Z') + i, gw, `10.1.${i >> 8}.${i & 255}`, false);
    recorder.flush();
    const callers = batches[0]![0]!.callers;
    expect(callers.length).toBeLessThanOrEqual(65);
    expect(callers.reduce((n, c) => n + c.calls, 0)).toBe(200);
    expect(callers.find((c) => c.address === '')?.calls).toBe(200 - 64);
  });

  it('with an asynchronous storage (PostgreSQL), still shows a batch while it is being written, and writes what came meanwhile after it', async () => {
    const written: TokenUsageDelta[][] = [];
    let finish!: () => void;
    const store: UsageSink = {
      recordUsage: (batch) =>
        new Promise<void>((resolve) => {
          finish = () => {
            written.push([...batch]);
            resolve();
          };
        }),
    };
    const recorder = new UsageRecorder(store, () => undefined, 0);
    recorder.recordIntrospection('tok_a', at('2026-03-01T10:00:00Z'), gw, '10.0.4.7', false);
    const first = recorder.flush();
    // The database does not have it yet: the time and the calls must not vanish from what the service shows.
    expect(recorder.peek('tok_a')).toBe('2026-03-01T10:00:00.000Z');
    expect(recorder.unflushed('tok_a')).toMatchObject({ lastUsedAt: '2026-03-01T10:00:00.000Z', days: [{ day: '2026-03-01', calls: 1 }] });
    recorder.recordIntrospection('tok_b', at('2026-03-01T10:00:01Z'), gw, '10.0.4.7', false);
    const second = recorder.flush(); // waits for the first write, then writes tok_b
    finish();
    await first;
    await new Promise((r) => setTimeout(r, 0));
    finish();
    await second;
    expect(written.map((b) => b.map((t) => t.tokenId))).toEqual([['tok_a'], ['tok_b']]);
    expect(recorder.peek('tok_a')).toBeUndefined();
    expect(recorder.unflushed('tok_a')).toBeNull();
  });
});
