import { describe, expect, it } from 'vitest';
import { manualClock, offsetClock, parseInstant } from '../../src/core/clock.js';
import { TokenctlError } from '../../src/core/errors.js';
import { looksLikeTokenValue, normalizeTokenName } from '../../src/core/names.js';
import {
  assertRetrievable,
  isLastActiveOfType,
  planCreateToken,
  planDeleteToken,
  planRenameToken,
  resolveToken,
  toTokenView,
  tokenStatus,
  type TokenRecord,
} from '../../src/core/tokens.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

function create(tokens: TokenRecord[], type: TokenRecord['type'], name: string, now = T0, activeImmediately = false): TokenRecord {
  const t = planCreateToken(tokens, { id: `tok_${tokens.length}`, type, name, masked: 'x…abcd', activeImmediately }, now);
  tokens.push(t);
  return t;
}

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof TokenctlError) return e.kind;
    throw e;
  }
  return 'none';
}

describe('token lifecycle (statuses derived from the clock)', () => {
  it('is pending for exactly 30 minutes, then active', () => {
    const t = create([], 's2s', 'a');
    expect(tokenStatus(t, T0)).toBe('pending');
    expect(tokenStatus(t, new Date(T0.getTime() + 30 * MIN - 1))).toBe('pending');
    expect(tokenStatus(t, new Date(T0.getTime() + 30 * MIN))).toBe('active');
  });

  it('the first token of an account can be active at once', () => {
    expect(tokenStatus(create([], 'api', 'default', T0, true), T0)).toBe('active');
  });

  it('a token active at once is never pending, even to a clock behind the one that stamped it (another replica, a drill)', () => {
    const t = create([], 'api', 'default', T0, true);
    expect(tokenStatus(t, new Date(T0.getTime() - 2_000))).toBe('active');
    // A token that waits its 30 minutes is still pending until then, whatever the clock.
    expect(tokenStatus(create([], 's2s', 'later'), new Date(T0.getTime() - 2_000))).toBe('pending');
  });

  it('drains for 30 minutes after deletion, then is revoked', () => {
    const t = planDeleteToken(create([], 'api', 'a'), new Date(T0.getTime() + DAY));
    const del = Date.parse(t.deletedAt!);
    expect(tokenStatus(t, new Date(del + 30 * MIN - 1))).toBe('draining');
    expect(tokenStatus(t, new Date(del + 30 * MIN))).toBe('revoked');
    expect(toTokenView(t, new Date(del)).rejectedAt).toBe(new Date(del + 30 * MIN).toISOString());
  });

  it('is stale from 180 days of age, and deleted tokens are never stale', () => {
    const t = create([], 'onelink', 'a');
    expect(toTokenView(t, new Date(T0.getTime() + 180 * DAY - 1)).stale).toBe(false);
    const v = toTokenView(t, new Date(T0.getTime() + 180 * DAY));
    expect(v).toMatchObject({ stale: true, ageDays: 180, rotateBy: new Date(T0.getTime() + 180 * DAY).toISOString() });
    expect(toTokenView(planDeleteToken(t, T0), new Date(T0.getTime() + 400 * DAY)).stale).toBe(false);
  });

  it('produces the JSON shape of the contract, in order', () => {
    expect(Object.keys(toTokenView(create([], 'api', 'a'), T0))).toEqual([
      'id', 'name', 'type', 'status', 'stale', 'createdAt', 'activatesAt', 'deletedAt', 'rejectedAt', 'ageDays', 'rotateBy', 'lastUsedAt', 'masked',
    ]);
  });
});

describe('limits and names', () => {
  it('allows two live tokens per type; deleted ones do not count', () => {
    const tokens: TokenRecord[] = [];
    create(tokens, 's2s', 'a');
    create(tokens, 's2s', 'b');
    expect(kindOf(() => create(tokens, 's2s', 'c'))).toBe('conflict');
    expect(kindOf(() => create(tokens, 'api', 'c'))).toBe('none');
    tokens[0] = planDeleteToken(tokens[0]!, T0);
    expect(kindOf(() => create(tokens, 's2s', 'd'))).toBe('none');
  });

  it('normalises names to NFC, trims them and bounds them to 64 characters', () => {
    expect(normalizeTokenName('  Cafe\u0301 ')).toBe('Café');
    expect(normalizeTokenName('é'.repeat(64))).toHaveLength(64);
    expect(kindOf(() => normalizeTokenName('x'.repeat(65)))).toBe('usage');
    expect(kindOf(() => normalizeTokenName(''))).toBe('usage');
  });

  it.each([
    ['ESC', 'a\u001b[2Jb'],
    ['NUL', 'a\u0000b'],
    ['DEL', 'a\u007fb'],
    ['C1 CSI', 'a\u009bb'],
    ['RLO', 'a\u202eb'],
    ['LRI', 'a\u2066b'],
    ['newline', 'a\nb'],
  ])('rejects names with %s', (_label, name) => {
    expect(kindOf(() => normalizeTokenName(name))).toBe('usage');
  });

  it('rejects names that look like token values and never echoes them', () => {
    const value = 'tctl_s2s_abcdefghijklmnopqrstuvwxyz0123456';
    expect(looksLikeTokenValue(value)).toBe(true);
    expect(looksLikeTokenValue('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhY2MifQ.sig')).toBe(true);
    expect(looksLikeTokenValue('ci-deploy')).toBe(false);
    try {
      normalizeTokenName(value);
      throw new Error('accepted');
    } catch (e) {
      expect((e as Error).message).not.toContain(value);
    }
  });

  it('compares names ignoring case on create and rename', () => {
    const tokens: TokenRecord[] = [];
    const a = create(tokens, 'api', 'Reporting');
    expect(kindOf(() => create(tokens, 's2s', 'REPORTING'))).toBe('conflict');
    const b = create(tokens, 's2s', 'other');
    expect(kindOf(() => planRenameToken(tokens, b, 'reporting'))).toBe('conflict');
    expect(planRenameToken(tokens, a, 'REPORTING').name).toBe('REPORTING');
  });
});

describe('resolving a token reference', () => {
  it('matches an id first, then a name ignoring case, live tokens only', () => {
    const tokens: TokenRecord[] = [];
    const a = create(tokens, 'api', 'alpha');
    expect(resolveToken(tokens, a.id)).toBe(a);
    expect(resolveToken(tokens, 'ALPHA')).toBe(a);
    tokens[0] = planDeleteToken(a, T0);
    expect(kindOf(() => resolveToken(tokens, 'alpha'))).toBe('notFound');
    expect(() => resolveToken(tokens, a.id)).toThrow(/was deleted/);
    expect(kindOf(() => resolveToken(tokens, 'tctl_ol_abcdefghijklmnopqrstuvwxyz0123456'))).toBe('usage');
  });

  it('refuses a pending token unless allowed, and says until when', () => {
    const t = create([], 's2s', 'a');
    expect(() => assertRetrievable(t, T0)).toThrow(/pending until 2026-01-01 00:30 UTC \(in 30m\)/);
    expect(kindOf(() => assertRetrievable(t, T0, true))).toBe('none');
    expect(kindOf(() => assertRetrievable(t, new Date(T0.getTime() + 30 * MIN)))).toBe('none');
  });

  it('knows when a token is the last active one of its type', () => {
    const tokens: TokenRecord[] = [];
    const a = create(tokens, 'api', 'a', T0, true);
    const b = create(tokens, 'api', 'b');
    expect(isLastActiveOfType(tokens, a, T0)).toBe(true); // b is still pending
    expect(isLastActiveOfType(tokens, a, new Date(T0.getTime() + 30 * MIN))).toBe(false);
    expect(isLastActiveOfType(tokens, b, T0)).toBe(false);
  });
});

describe('clocks', () => {
  it('parses ISO-8601 instants and rejects the rest', () => {
    expect(parseInstant('2026-02-03T04:05:06Z')?.toISOString()).toBe('2026-02-03T04:05:06.000Z');
    expect(parseInstant('2026-02-03T04:05:06+02:00')?.toISOString()).toBe('2026-02-03T02:05:06.000Z');
    expect(parseInstant('2026-02-03')?.toISOString()).toBe('2026-02-03T00:00:00.000Z');
    expect(parseInstant('yesterday')).toBeNull();
    expect(parseInstant('2026-02-03T04:05')).toBeNull();
    expect(parseInstant('2026-13-03T04:05:06Z')).toBeNull();
    expect(parseInstant('2026-02-30')).toBeNull();
    expect(parseInstant('2026-02-29T10:00:00Z')).toBeNull();
    expect(parseInstant('2028-02-29T10:00:00Z')?.toISOString()).toBe('2028-02-29T10:00:00.000Z');
  });

  it('an offset clock starts at the given instant and runs on', () => {
    let real = 1_000;
    const clock = offsetClock(T0, () => real);
    expect(clock.now()).toEqual(T0);
    real += 5_000;
    expect(clock.now().getTime()).toBe(T0.getTime() + 5_000);
    const m = manualClock(T0);
    m.advance(MIN);
    expect(m.now().getTime()).toBe(T0.getTime() + MIN);
  });
});
