import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { putInteger, requestLineWriter } from '../../../../src/server/http/plugins/request-log.js';
import { logWriter } from '../../../../src/ui/log-writer.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

interface Line {
  level: number;
  time: number;
  pid: number;
  hostname: string;
  reqId: string;
  method: string;
  route: string;
  status: number;
  ms: number;
  principal: string | null;
  msg: string;
}

describe("the introspection door's request lines", () => {
  it('are the JSON lines of the API (pino fields around the request), written as bytes into batches, in order', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-request-log-'));
    const file = path.join(dir, 'log');
    const fd = openSync(file, 'w');
    // Small batches: lines land at the end of one batch and the start of the next, again and again.
    const logs = logWriter({ out: () => expect.unreachable('asynchronous writes into a file'), stdoutIsTTY: false }, { maxDelayMs: 60_000, maxBytes: 500, fd });
    const log = requestLineWriter(logs);
    const before = Date.now();
    const cases: [number, number, string | null, number][] = [
      [200, 0.004, 'prn_VymLcvjtQIzaBLpq', 0],
      [200, 12.345678, 'prn_VymLcvjtQIzaBLpq', 12.35],
      [401, 1234.999, null, 1235],
      [429, 7, 'prn_other', 7],
      [503, 0.995, null, 1],
      [200, 86_400_000.5, 'prn_x', 86_400_000.5],
    ];
    for (let i = 0; i < 200; i++) {
      const [status, ms, principal] = cases[i % cases.length]!;
      log(status, ms, principal);
    }
    // A string line from pino between them stays in its place.
    logs.write('{"level":50,"msg":"pino"}\n');
    log(200, 1, 'prn_last');
    await logs.flush();
    closeSync(fd);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(202);
    expect(lines[200]).toBe('{"level":50,"msg":"pino"}');
    const parsed = lines.filter((_, i) => i !== 200).map((l) => JSON.parse(l) as Line);
    parsed.forEach((line, i) => {
      const [status, , principal, ms] = i === 200 ? [200, 1, 'prn_last', 1] : cases[i % cases.length]!;
      expect(Object.keys(line)).toEqual(['level', 'time', 'pid', 'hostname', 'reqId', 'method', 'route', 'status', 'ms', 'principal', 'msg']);
      expect(line).toMatchObject({ level: 30, pid: process.pid, hostname: hostname(), reqId: `introspect-${i + 1}`, method: 'POST', route: '/v1/introspect', status, ms, principal, msg: 'request' });
      expect(line.time).toBeGreaterThanOrEqual(before);
      expect(line.time).toBeLessThanOrEqual(Date.now());
    });
  });

  it("write ms as the API's lines have it (JSON of Math.round(ms * 100) / 100)", () => {
    const out: string[] = [];
    const log = requestLineWriter(logWriter({ out: (text) => void out.push(text), stdoutIsTTY: true }, { maxDelayMs: 60_000, maxBytes: 1 }));
    const values = [0, 0.004, 0.005, 0.1, 0.25, 0.995, 1, 3.5, 7, 10.25, 12.345678, 99.999, 1234.999, 86_400_000.5];
    for (const ms of values) log(200, ms, null);
    expect(out.map((line) => /"ms":([^,]*),/.exec(line)?.[1])).toEqual(values.map((ms) => JSON.stringify(Math.round(ms * 100) / 100)));
  });

  it('write each line with the time it was written, as the clock moves from one millisecond to the next and back', () => {
    const out: string[] = [];
    const log = requestLineWriter(logWriter({ out: (text) => void out.push(text), stdoutIsTTY: true }, { maxDelayMs: 60_000, maxBytes: 1 }));
    const times = [1_796_639_558_806, 1_796_639_558_806, 1_796_639_558_807, 1_796_639_559_999, 1_796_639_560_000, 1_796_639_558_806, 9_999_999_999_999, 10_000_000_000_000, 1_796_639_558_808];
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const t of times) {
        vi.setSystemTime(t);
        log(200, 1, 'prn_a');
      }
    } finally {
      vi.useRealTimers();
    }
    expect(out.map((line) => (JSON.parse(line) as Line).time)).toEqual(times);
    expect(out.map((line) => (JSON.parse(line) as Line).reqId)).toEqual(times.map((_, i) => `introspect-${i + 1}`));
  });
});

describe('putInteger', () => {
  it('writes integers in decimal, below 2^31 and above it', () => {
    const buf = Buffer.alloc(32);
    for (const v of [0, 7, 9, 10, 99, 100, 65_535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 1_796_639_558_806, 1e15, Number.MAX_SAFE_INTEGER]) {
      const end = putInteger(buf, 3, v);
      expect(buf.subarray(3, end).toString('latin1'), String(v)).toBe(String(v));
    }
  });
});
