import { describe, expect, it } from 'vitest';
import { accountIdentifier, scanInputs } from '../../src/scan/scan.js';
import { BackendUnavailableError } from '../../src/core/errors.js';
import type { TokenBackend } from '../../src/backends/token-backend.js';
import type { TokenRecord } from '../../src/core/tokens.js';
import { mintOpaqueToken } from '../../src/secrets/opaque.js';

async function* inputs(...texts: string[]) {
  for (const [i, text] of texts.entries()) yield { file: `f${i}`, text };
}

const record = (over: Partial<TokenRecord>): TokenRecord => ({
  id: 'tok_1',
  name: 'ci',
  type: 's2s',
  createdAt: '2026-01-01T00:00:00.000Z',
  activatesAt: '2026-01-01T00:30:00.000Z',
  deletedAt: null,
  lastUsedAt: null,
  masked: 'x',
  ...over,
});

describe('scanInputs', () => {
  it('asks the account once per distinct value, and tells live, deleted and foreign tokens apart', async () => {
    const live = mintOpaqueToken('s2s');
    const gone = mintOpaqueToken('onelink');
    const foreign = mintOpaqueToken('s2s');
    const asked: string[] = [];
    const known = new Map([
      [live, record({})],
      [gone, record({ id: 'tok_2', type: 'onelink', deletedAt: '2026-02-01T00:00:00.000Z' })],
    ]);
    const { findings, scanned } = await scanInputs(
      inputs(`${live} ${live}`, `${gone}\n${foreign}`),
      async (v) => {
        asked.push(v);
        return known.get(v) ?? null;
      },
      () => new Date('2026-02-01T00:10:00.000Z'),
    );
    expect(scanned).toBe(2);
    expect(asked).toHaveLength(3);
    expect(findings.map((f) => [f.file, f.line, f.column, f.live, f.token?.status ?? null])).toEqual([
      ['f0', 1, 1, 'yes', 'active'],
      ['f0', 1, 45, 'yes', 'active'],
      ['f1', 1, 1, 'no', 'draining'],
      ['f1', 2, 1, 'no', null],
    ]);
  });
});

describe('accountIdentifier', () => {
  it('reports an unavailable account once, then answers unknown without asking again', async () => {
    let opened = 0;
    const reasons: string[] = [];
    const identify = accountIdentifier(
      async () => {
        opened++;
        return { identify: async () => Promise.reject(new BackendUnavailableError('service unreachable')) } as unknown as TokenBackend;
      },
      (why) => reasons.push(why),
    );
    expect(await identify('a')).toBe('unknown');
    expect(await identify('b')).toBe('unknown');
    expect(opened).toBe(1);
    expect(reasons).toEqual(['service unreachable']);
  });
});
