import { describe, expect, it } from 'vitest';
import { INTROSPECTORS } from '../../../src/core/roles.js';
import { Authenticator, REMEMBERED_MS, type AuthAnswer, type CredentialLookup } from '../../../src/server/auth/authenticator.js';
import { FailedAuthLimiter } from '../../../src/server/auth/limiter.js';
import type { Principal } from '../../../src/tokens/principals.js';

/**
 * The one authentication door on its own: how it reads client credentials, and what its failed-authentication limit
 * counts. A fake lookup (two principals) and a clock the test moves; the real store is exercised by the doors' tests.
 */
const gateway: Principal = { id: 'prn_gateway', accountId: 'acc_1', name: 'gateway', role: 'service' };
const uma: Principal = { id: 'prn_uma', accountId: 'acc_1', name: 'uma', role: 'user' };
const SECRETS: Record<string, Principal> = { tctl_key_gateway: gateway, tctl_key_uma: uma };
/** The fake lookup's generation: a test bumps it as a change to principals would. */
const lookup: CredentialLookup & { generation: number } = { authenticate: (credential) => SECRETS[credential] ?? null, generation: 0 };

function door(maxFailures = 3) {
  let now = 1_000_000;
  const limiter = new FailedAuthLimiter({ maxFailures, windowMs: 60_000, blockMs: 30_000 }, () => now);
  return { auth: new Authenticator(lookup, limiter), limiter, advance: (ms: number) => (now += ms) };
}

/** The answer, which is synchronous here (no shared count, no catch-up). */
function sync(answer: AuthAnswer | Promise<AuthAnswer>): AuthAnswer {
  if (answer instanceof Promise) throw new Error('expected an answer at once');
  return answer;
}
const reason = (a: AuthAnswer) => (a.ok ? 'ok' : a.refusal.reason);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`, 'latin1').toString('base64')}`;

describe('client credentials as the door reads them (RFC 6749 section 2.3.1)', () => {
  it('decodes Basic, then form-urldecodes the id and the secret, whether the client encoded them or not', () => {
    expect(Authenticator.basic(basic('prn_gateway', 'tctl_key_gateway'))).toEqual({ clientId: 'prn_gateway', secret: 'tctl_key_gateway' });
    // openid-client (oauth4webapi) form-urlencodes both: "_" becomes %5F.
    expect(Authenticator.basic(basic('prn%5Fgateway', 'tctl%5Fkey%5Fgateway'))).toEqual({ clientId: 'prn_gateway', secret: 'tctl_key_gateway' });
    // "+" is a space in a form-urlencoded component; ":" may be in the secret (only the first one separates).
    expect(Authenticator.basic(basic('a+b', 's%3Ae:c%2B'))).toEqual({ clientId: 'a b', secret: 's:e:c+' });
    expect(Authenticator.basic(`basic ${Buffer.from('x:y').toString('base64')}`)).toEqual({ clientId: 'x', secret: 'y' });
    for (const unreadable of ['Basic', 'Basic ', 'Basic !!!', basic('', 'secret'), `Basic ${Buffer.from('no-colon').toString('base64')}`, basic('%zz', 'x'), 'Bearer x']) {
      expect(Authenticator.basic(unreadable), unreadable).toBeNull();
    }
    expect(Authenticator.isBasic('Basic abc')).toBe(true);
    expect(Authenticator.isBasic('BASIC abc')).toBe(true);
    expect(Authenticator.isBasic('Bearer abc')).toBe(false);
    expect(Authenticator.isBasic('Basicabc')).toBe(false);
  });

  it('reads a Bearer header in any case, and takes as a credential only 1 to 256 printable ASCII characters', () => {
    expect(Authenticator.bearer('Bearer tctl_key_gateway')).toBe('tctl_key_gateway');
    expect(Authenticator.bearer('bEaReR tctl_key_gateway')).toBe('tctl_key_gateway');
    for (const notBearer of [undefined, '', 'Bearer', 'Bearertctl_key_gateway', 'Bearex tctl_key_gateway', 'Basic dGN0bDp4', 'Bearer\ttctl_key_gateway', ' Bearer tctl_key_gateway']) {
      expect(Authenticator.bearer(notBearer), String(notBearer)).toBeNull();
    }
    const { auth } = door();
    const at = (header: string) => reason(sync(auth.check(Authenticator.bearer(header), '10.0.0.9', INTROSPECTORS)));
    expect(at('Bearer tctl_key_gateway')).toBe('ok');
    expect(at(`Bearer ${'k'.repeat(256)}`)).toBe('invalid');
    // Not credentials at all (nothing guessed, nothing counted): empty, too long, a space, a control character, non-ASCII.
    for (const value of ['', 'k'.repeat(257), ' tctl_key_gateway', 'tctl_key_gateway ', 'tctl_key\x7fgateway', 'tctl_key_gatewäy', 'tctl key']) {
      expect(at(`Bearer ${value}`), JSON.stringify(value)).toBe('missing');
    }
  });

  it('accepts a client only with its own id; the right secret under another id is refused', () => {
    const { auth } = door();
    expect(sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS, 'prn_gateway'))).toEqual({ ok: true, principal: gateway });
    expect(reason(sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS, 'prn_uma')))).toBe('invalid');
    // Without a client id (a bearer credential), the secret alone.
    expect(sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS))).toEqual({ ok: true, principal: gateway });
    expect(reason(sync(auth.check('tctl_key_uma', '10.0.0.1', INTROSPECTORS, 'prn_uma')))).toBe('role');
  });
});

describe('the failed-authentication limit counts guesses', () => {
  it('blocks an address after maxFailures different wrong credentials within the window, whatever the method', () => {
    const { auth } = door(3);
    expect(reason(sync(auth.check('tctl_key_guess1', '10.0.0.1', INTROSPECTORS)))).toBe('invalid');
    expect(reason(sync(auth.check('tctl_key_guess2', '10.0.0.1', INTROSPECTORS, 'prn_gateway')))).toBe('invalid');
    expect(reason(sync(auth.check('tctl_key_guess3', '10.0.0.1', INTROSPECTORS, 'anything')))).toBe('invalid');
    // Blocked: even the right credential, by any method, until the block ends.
    const blocked = sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS));
    expect(blocked.ok ? null : blocked.refusal).toMatchObject({ status: 429, reason: 'blocked', retryAfterSeconds: 30 });
    // Another address is not.
    expect(sync(auth.check('tctl_key_gateway', '10.0.0.2', INTROSPECTORS)).ok).toBe(true);
  });

  it('does not count a missing or unreadable credential, the same wrong one again, or the right secret with another id', () => {
    const { auth, limiter } = door(3);
    for (let i = 0; i < 20; i++) {
      expect(reason(sync(auth.check(null, '10.0.0.1', INTROSPECTORS)))).toBe('missing');
      expect(reason(sync(auth.check('bad credential with spaces', '10.0.0.1', INTROSPECTORS)))).toBe('missing');
      expect(reason(sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS, 'id with spaces')))).toBe('missing');
      // A gateway left on a stale secret: one guess, however often it repeats it (by Basic, post or bearer alike).
      expect(reason(sync(auth.check('tctl_key_stale', '10.0.0.1', INTROSPECTORS, i % 2 ? 'prn_gateway' : undefined)))).toBe('invalid');
      // A gateway with the right secret and a wrong client id: it has the secret; nothing is being guessed.
      expect(reason(sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS, 'prn_wrong')))).toBe('invalid');
    }
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(0);
    // Its neighbour behind the same address authenticates all along, by any method.
    expect(sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS, 'prn_gateway')).ok).toBe(true);
    // Guessing stays bounded: the stale credential counted once, two new ones reach the limit.
    auth.check('tctl_key_guess1', '10.0.0.1', INTROSPECTORS);
    auth.check('tctl_key_guess2', '10.0.0.1', INTROSPECTORS);
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(30);
  });

  it('forgets what it counted when the window ends: a stale secret repeated for hours stays one guess a window', () => {
    const { auth, limiter, advance } = door(3);
    for (let hour = 0; hour < 120; hour++) {
      for (let i = 0; i < 5; i++) expect(reason(sync(auth.check('tctl_key_stale', '10.0.0.1', INTROSPECTORS)))).toBe('invalid');
      advance(61_000);
    }
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(0);
  });
});

describe('a success remembered on its connection (remember, recall)', () => {
  it('is answered again as check would answer now, and not after a change to principals, past REMEMBERED_MS, or for a role not allowed', () => {
    const { auth } = door(3);
    const before = auth.generation;
    const found = sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS));
    if (!found.ok) throw new Error('expected the gateway to authenticate');
    const t = 5_000_000;
    const remembered = auth.remember(found, before, t);
    expect(auth.recall(remembered, '10.0.0.1', INTROSPECTORS, t + 1)).toEqual({ ok: true, principal: gateway });
    // From another address behind the same connection (a proxy's X-Forwarded-For): still the principal's.
    expect(auth.recall(remembered, '10.0.0.7', INTROSPECTORS, t + 1)).toEqual({ ok: true, principal: gateway });
    // As long as the lookup's own memory would keep it, and not a moment longer: then check looks it up again.
    expect(auth.recall(remembered, '10.0.0.1', INTROSPECTORS, t + REMEMBERED_MS - 1)?.ok).toBe(true);
    expect(auth.recall(remembered, '10.0.0.1', INTROSPECTORS, t + REMEMBERED_MS)).toBeNull();
    // A role this door does not allow: left to check, which words the refusal.
    expect(auth.recall(remembered, '10.0.0.1', ['admin'], t + 1)).toBeNull();
    // Any change to principals this process learns of (removed, rotated, another role): never recalled again.
    lookup.generation += 1;
    expect(auth.recall(remembered, '10.0.0.1', INTROSPECTORS, t + 1)).toBeNull();
    expect(auth.recall(auth.remember(found, auth.generation, t), '10.0.0.1', INTROSPECTORS, t + 1)?.ok).toBe(true);
    // A check that waited (memory catching up) while a change landed: remembered at the generation read before it,
    // so never recalled.
    const readBefore = auth.generation;
    lookup.generation += 1;
    expect(auth.recall(auth.remember(found, readBefore, t), '10.0.0.1', INTROSPECTORS, t + 1)).toBeNull();
  });

  it('answers a blocked address 429, as check does, even with a success remembered', () => {
    const { auth } = door(3);
    const found = sync(auth.check('tctl_key_gateway', '10.0.0.1', INTROSPECTORS));
    if (!found.ok) throw new Error('expected the gateway to authenticate');
    const remembered = auth.remember(found, auth.generation);
    for (let i = 0; i < 3; i++) expect(reason(sync(auth.check(`tctl_key_guess${i}`, '10.0.0.1', INTROSPECTORS)))).toBe('invalid');
    const blocked = auth.recall(remembered, '10.0.0.1', INTROSPECTORS);
    expect(blocked?.ok ? null : blocked?.refusal).toMatchObject({ status: 429, reason: 'blocked', retryAfterSeconds: 30 });
    expect(auth.recall(remembered, '10.0.0.2', INTROSPECTORS)?.ok).toBe(true);
  });
});
