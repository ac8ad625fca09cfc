// The decisions and wording the Tokens page renders (core/decisions.ts, core/format.ts): statuses in words, ages, how
// to replace a token (only what can work, in words), what a pending token is, as the CLI would say it too.
import { describe, expect, it } from 'vitest';
import { ageText, lastUsedText, notUsableYet, pendingAfterCreate, replacementPathText, staleText, statusInWords } from '../../src/core/decisions.js';
import { asSentence, formatAgo } from '../../src/core/format.js';
import { deriveReplacementName, replacementPath, type RotationRecord } from '../../src/core/rotation.js';
import { planCreateToken, planDeleteToken, type TokenRecord } from '../../src/core/tokens.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const at = (ms: number) => new Date(T0.getTime() + ms);

function token(tokens: TokenRecord[], type: TokenRecord['type'], name: string, createdAt = T0, active = false): TokenRecord {
  const t = planCreateToken(tokens, { id: `tok_${name.replace(/\W/g, '')}`, type, name, masked: 'x…abcd', activeImmediately: active }, createdAt);
  tokens.push(t);
  return t;
}

describe('a status in words', () => {
  it('says when a pending token becomes active, and when a deleted one is rejected, or that it never was active', () => {
    const tokens: TokenRecord[] = [];
    const t = token(tokens, 's2s', 'a');
    expect(statusInWords(t, at(12 * MIN))).toEqual({ status: 'pending', label: 'Pending', detail: 'active in 18 min', exact: 'active from 2026-03-01 10:30 UTC' });
    expect(statusInWords(t, at(31 * MIN))).toEqual({ status: 'active', label: 'Active', detail: null, exact: null });
    const drained = planDeleteToken(t, at(40 * MIN));
    expect(statusInWords(drained, at(50 * MIN))).toEqual({ status: 'draining', label: 'Draining', detail: 'rejected in 20 min', exact: 'deleted: calls are rejected from 2026-03-01 11:10 UTC' });
    expect(statusInWords(drained, at(2 * DAY))).toEqual({ status: 'revoked', label: 'Revoked', detail: null, exact: 'revoked: calls are rejected since 2026-03-01 11:10 UTC' });
    // Deleted while pending: "draining" by the contract, but it never becomes active.
    const never = planDeleteToken(t, at(5 * MIN));
    expect(statusInWords(never, at(6 * MIN))).toMatchObject({ status: 'draining', detail: 'never active', exact: 'deleted while pending: it never became active' });
    expect(statusInWords(never, at(2 * DAY))).toMatchObject({ status: 'revoked', detail: 'never active' });
  });

  it('says ages and last use in words, and why a token is stale', () => {
    const tokens: TokenRecord[] = [];
    const t = token(tokens, 'api', 'a', T0, true);
    expect(ageText(t, at(12 * MIN))).toBe('12 min ago');
    expect(ageText(t, at(DAY))).toBe('1 day ago');
    expect(ageText(t, at(193 * DAY))).toBe('193 days ago');
    expect(lastUsedText(t, T0)).toBe('never');
    expect(lastUsedText({ ...t, lastUsedAt: at(-5 * MIN).toISOString() }, T0)).toBe('5 min ago');
    expect(staleText(t, at(193 * DAY))).toBe("193 days old; it's recommended to replace tokens every 180 days");
    expect(formatAgo(0)).toBe('less than a minute ago');
    expect(formatAgo(0, 'short')).toBe('just now');
    expect(formatAgo(3 * 60 * MIN, 'short')).toBe('3 h ago');
    expect(formatAgo(3 * DAY)).toBe('3 days ago');
  });

  it('says what a pending token is, the same for the page (words) and the CLI (short)', () => {
    const t = token([], 's2s', 'a');
    expect(notUsableYet(t, at(11 * MIN))).toBe('pending until 2026-03-01 10:30 UTC (in 19 min) and cannot be used yet');
    expect(pendingAfterCreate(t, T0)).toBe('pending until 2026-03-01 10:30 UTC (in 30 min): put it in place now; calls made with it are rejected until then');
    expect(pendingAfterCreate(t, T0, 'short')).toBe('pending until 2026-03-01 10:30 UTC (in 30m): put it in place now; calls made with it are rejected until then');
  });
});

describe('how to replace a token, in words', () => {
  it('offers a replacement only where its type has room; otherwise names the token to delete first', () => {
    const tokens: TokenRecord[] = [];
    const old = token(tokens, 's2s', 'old', at(-200 * DAY), true);
    expect(replacementPath(tokens, [], old, T0)).toEqual({ kind: 'replace' });
    expect(replacementPathText({ kind: 'replace' }, old, T0)).toBe("create its replacement, put it in place, and delete 'old' once the replacement is active");
    const other = token(tokens, 's2s', 'spare', at(-10 * MIN));
    const full = replacementPath(tokens, [], old, T0);
    expect(full).toMatchObject({ kind: 'full', other: { id: other.id } });
    expect(replacementPathText(full, old, T0)).toBe(
      "its type has no free slot: if 'spare', pending until 2026-03-01 10:20 UTC, in 20 min, replaces it, put 'spare' in place, then delete 'old'; " +
        "if not, delete 'spare' first (once nothing uses it), then replace 'old'",
    );
    expect(replacementPathText(full, old, T0)).not.toMatch(/tokenctl/);
  });

  it('continues a replacement under way, from either end', () => {
    const tokens: TokenRecord[] = [];
    const old = token(tokens, 's2s', 'old', at(-200 * DAY), true);
    const next = token(tokens, 's2s', 'old-20260301');
    const r: RotationRecord = { id: 'rot_1', oldTokenId: old.id, newTokenId: next.id, type: 's2s', state: 'started', startedAt: T0.toISOString(), deliveredAt: null, completedAt: null, delivery: null, note: null };
    expect(replacementPathText(replacementPath(tokens, [r], old, T0), old, T0)).toBe("its replacement, 'old-20260301', is under way: continue replacing 'old'");
    expect(replacementPathText(replacementPath(tokens, [r], next, T0), next, T0)).toBe("it is the replacement of 'old', under way: continue replacing 'old'");
  });

  it('cuts a long name for its replacement without leaving a hyphen before the date', () => {
    const name = 'campaign-links-for-the-spring-sale-partner-network-and-affiliate';
    expect(name).toHaveLength(64);
    const derived = deriveReplacementName([], name, T0);
    expect(derived).toBe('campaign-links-for-the-spring-sale-partner-network-and-20260301');
    expect([...derived].length).toBeLessThanOrEqual(64);
  });
});

describe('a sentence for a page', () => {
  it('starts upper case and ends with a full stop, once', () => {
    expect(asSentence('a token named x already exists')).toBe('A token named x already exists.');
    expect(asSentence('done.')).toBe('Done.');
    expect(asSentence('')).toBe('');
  });
});
