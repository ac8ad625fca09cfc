import { describe, expect, it } from 'vitest';
import { TokenctlError } from '../../src/core/errors.js';
import { assertCanComplete, assertRotationSlot, deriveReplacementName, findCompletedRotation, findUnfinishedRotation, replacementAdvice, type RotationRecord } from '../../src/core/rotation.js';
import { reviewTokens, type AuditEvent } from '../../src/core/audit.js';
import { planCreateToken, planDeleteToken, type TokenRecord } from '../../src/core/tokens.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const at = (ms: number) => new Date(T0.getTime() + ms);

function token(tokens: TokenRecord[], type: TokenRecord['type'], name: string, createdAt = T0, active = true): TokenRecord {
  const t = planCreateToken(tokens, { id: `tok_${name}`, type, name, masked: 'x…abcd', activeImmediately: active }, createdAt);
  tokens.push(t);
  return t;
}

function rotation(over: Partial<RotationRecord> = {}): RotationRecord {
  return { id: 'rot_1', oldTokenId: 'tok_a', newTokenId: 'tok_b', type: 's2s', state: 'started', startedAt: T0.toISOString(), deliveredAt: null, completedAt: null, delivery: null, note: null, ...over };
}

function kind(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (e) {
    if (e instanceof TokenctlError) return e.kind;
    throw e;
  }
}

describe('rotation rules', () => {
  it('derives a dated, unique replacement name within 64 characters', () => {
    const tokens: TokenRecord[] = [];
    token(tokens, 's2s', 'ci');
    expect(deriveReplacementName(tokens, 'ci', T0)).toBe('ci-20260101');
    token(tokens, 'api', 'ci-20260101');
    expect(deriveReplacementName(tokens, 'ci', T0)).toBe('ci-20260101-2');
    expect(deriveReplacementName(tokens, 'ci-20250301', T0)).toBe('ci-20260101-2');
    expect([...deriveReplacementName([], 'x'.repeat(64), T0)]).toHaveLength(64);
  });

  it('needs a free slot, and says what frees one: delete the old token if the other replaces it, else the other first', () => {
    const tokens: TokenRecord[] = [];
    const a = token(tokens, 's2s', 'a');
    expect(kind(() => assertRotationSlot(tokens, a, T0))).toBe('none');
    token(tokens, 's2s', 'b', T0, false);
    expect(kind(() => assertRotationSlot(tokens, a, T0))).toBe('conflict');
    const message = (now: Date) => {
      try {
        assertRotationSlot(tokens, a, now);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    };
    // A pending token may already be in place (create said to put it there at once): never "nothing depends on it".
    expect(message(T0)).toBe(
      "type s2s already has 2 live tokens ('a' and 'b'), so there is no slot for a replacement; nothing was changed. " +
        "If 'b' (pending until 2026-01-01 00:30 UTC) replaces 'a', put it in place, then run: tokenctl delete a; " +
        'if not, free a slot with: tokenctl delete b (once nothing uses it), then run: tokenctl rotate a',
    );
    expect(message(at(31 * MIN))).toMatch(/nothing was changed\. If 'b' replaces 'a', put it in place, then run: tokenctl delete a; if not, free a slot with: tokenctl delete b/);
  });

  it("advises only what can work for a token to replace: its rotation under way, rotate, or what frees its type's slot", () => {
    const tokens: TokenRecord[] = [];
    const old = token(tokens, 's2s', 'old events');
    const now = at(200 * DAY);
    expect(replacementAdvice(tokens, [], old, now)).toEqual({ text: "replace it safely with: tokenctl rotate 'old events'", action: "tokenctl rotate 'old events'" });
    const other = token(tokens, 's2s', 'spare', at(100 * DAY));
    const full = replacementAdvice(tokens, [], old, now);
    expect(full.text).toMatch(/^its type has no free slot, so rotate cannot replace it yet: if 'spare' replaces 'old events', put it in place, then run: tokenctl delete 'old events'; if not, free a slot with: tokenctl delete spare/);
    expect(full.action).toBe("no free s2s slot: tokenctl delete 'old events' if 'spare' replaces it, else tokenctl delete spare then tokenctl rotate 'old events'");
    // The other one is its replacement in a rotation: finish that (from either end).
    const r = rotation({ id: 'rot_1', oldTokenId: old.id, newTokenId: other.id, state: 'delivered' });
    expect(replacementAdvice(tokens, [r], old, now)).toEqual({
      text: "its replacement 'spare' is already under way (rotation rot_1, delivered): finish that rotation with: tokenctl rotate 'old events' --resume",
      action: "tokenctl rotate 'old events' --resume",
    });
    expect(replacementAdvice(tokens, [r], other, now).text).toMatch(/^it is the replacement of 'old events' \(rotation rot_1, delivered\)/);
    // The CLI's own command writer (a profile, npx) is used throughout.
    expect(replacementAdvice(tokens, [], old, now, (args) => `npx tokenctl ${args.join(' ')}`).action).toMatch(/^no free s2s slot: npx tokenctl delete old events if/);
  });

  it('never lets the old token go before the replacement is active', () => {
    const tokens: TokenRecord[] = [];
    const b = token(tokens, 's2s', 'b', T0, false);
    expect(kind(() => assertCanComplete(rotation({ state: 'delivered' }), b, at(29 * MIN)))).toBe('pending');
    expect(kind(() => assertCanComplete(rotation({ state: 'started' }), b, at(30 * MIN)))).toBe('conflict');
    expect(kind(() => assertCanComplete(rotation({ state: 'delivered' }), planDeleteToken(b, T0), at(30 * MIN)))).toBe('conflict');
    expect(kind(() => assertCanComplete(rotation({ state: 'delivered' }), b, at(30 * MIN)))).toBe('none');
  });

  it('says until when the replacement is pending the way every other message does (no raw ISO time)', () => {
    const b = token([], 's2s', 'b', T0, false);
    expect(() => assertCanComplete(rotation({ state: 'delivered' }), b, at(18 * MIN))).toThrow(
      /^the replacement 'b' is pending until 2026-01-01 00:30 UTC \(in 12m\); the old token is never deleted before the new one is active$/,
    );
  });

  it('finds the completed rotation of a deleted old token or of its live replacement, never of a live old token', () => {
    const tokens: TokenRecord[] = [];
    const a = token(tokens, 's2s', 'a');
    const b = token(tokens, 's2s', 'b');
    const done = rotation({ state: 'completed', completedAt: at(40 * MIN).toISOString() });
    expect(findCompletedRotation([done], tokens, 'a')).toBeNull(); // 'a' is live: not this rotation's old token any more
    tokens[0] = planDeleteToken(a, at(40 * MIN));
    for (const ref of ['a', 'A', 'tok_a', 'b', 'tok_b']) expect(findCompletedRotation([done], tokens, ref)?.replacement?.id, ref).toBe(b.id);
    expect(findCompletedRotation([rotation({ state: 'abandoned' })], tokens, 'a')).toBeNull();
    expect(findCompletedRotation([done], tokens, 'c')).toBeNull();
  });

  it('finds the unfinished rotation of a token from either end', () => {
    const rs = [rotation({ id: 'rot_done', state: 'completed' }), rotation({ id: 'rot_open', state: 'delivered' })];
    expect(findUnfinishedRotation(rs, 'tok_a')?.id).toBe('rot_open');
    expect(findUnfinishedRotation(rs, 'tok_b')?.id).toBe('rot_open');
    expect(findUnfinishedRotation(rs, 'tok_c')).toBeNull();
  });
});

describe('security review', () => {
  function account() {
    const tokens: TokenRecord[] = [];
    token(tokens, 'api', 'old-api', T0);
    token(tokens, 'api', 'newer-api', at(100 * DAY));
    token(tokens, 's2s', 'fresh', at(200 * DAY), false);
    const gone = token(tokens, 'onelink', 'gone', at(10 * DAY));
    tokens[3] = planDeleteToken(gone, at(200 * DAY));
    return tokens;
  }
  const reveal = (id: string): AuditEvent => ({ seq: 1, at: T0.toISOString(), actor: 'os:x', action: 'token.reveal', token: { id, name: id, type: 'api' }, fingerprint: 'f', detail: null });

  it('reports stale, soon-stale, pending, draining, unfinished rotations and never-retrieved tokens, by urgency', () => {
    const report = reviewTokens(account(), [rotation({ oldTokenId: 'tok_newer-api', newTokenId: 'tok_x' })], [reveal('tok_old-api')], {
      asOf: at(200 * DAY + 10 * MIN),
      maxAgeDays: 180,
      withinDays: 90,
    });
    expect(report.findings.map((f) => `${f.kind}:${f.name}`)).toEqual([
      'stale:old-api',
      'rotation-unfinished:newer-api',
      'soon-stale:newer-api',
      'pending:fresh',
      'draining:gone',
      'never-retrieved:newer-api', // older first within a kind
      'never-retrieved:fresh',
    ]);
    expect(report).toMatchObject({ stale: 1, ok: false, liveTokens: 3 });
    expect(report.verdict).toMatch(/^FAIL: 1 stale token/);
    // api is full (old-api, newer-api): not "tokenctl rotate old-api", which would be refused (exit 4).
    expect(report.findings[0]).toMatchObject({
      severity: 'critical',
      ageDays: 200,
      action: "no free api slot: tokenctl delete old-api if 'newer-api' replaces it, else tokenctl delete newer-api then tokenctl rotate old-api",
    });
    expect(report.findings.find((f) => f.kind === 'soon-stale')?.message).toBe('turns stale in 80 days');
  });

  it('is measured at --as-of with --max-age-days, and ignores tokens created later', () => {
    const r = reviewTokens(account(), [], null, { asOf: at(50 * DAY), maxAgeDays: 30, withinDays: 0 });
    expect(r.findings.map((f) => `${f.kind}:${f.name}`)).toEqual(['stale:old-api', 'stale:gone']);
    expect(r.liveTokens).toBe(2);
    const ok = reviewTokens(account(), [], null, { asOf: at(1 * DAY), maxAgeDays: 180, withinDays: 30 });
    expect(ok.verdict).toBe('OK: no stale tokens among 1 live token');
    expect(ok.ok).toBe(true);
  });
});
