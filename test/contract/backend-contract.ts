import { beforeEach, describe, expect, it } from 'vitest';
import type { TokenBackend } from '../../src/backends/token-backend.js';
import type { ManualClock } from '../../src/core/clock.js';
import { TokenctlError } from '../../src/core/errors.js';
import { tokenStatus, toTokenView } from '../../src/core/tokens.js';
import { checkOpaqueToken } from '../../src/secrets/opaque.js';

/**
 * ONE suite that every backend must pass. `setup` gives a fresh, uninitialised account and the clock the
 * backend runs on (the file backend's injected clock; the server's clock for HTTP).
 */
export interface ContractHarness {
  backend: TokenBackend;
  clock: ManualClock;
  /** Initialise the account the way this backend does it (file: backend.init; http: server-side init). */
  initAccount(opts?: { defaultToken?: boolean }): Promise<void>;
}

const MIN = 60_000;

async function expectError(p: Promise<unknown>, kind: string, message?: RegExp): Promise<TokenctlError> {
  const error = await p.then(
    () => {
      throw new Error(`expected a ${kind} error`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenctlError);
  expect((error as TokenctlError).kind).toBe(kind);
  if (message) expect((error as TokenctlError).message).toMatch(message);
  return error as TokenctlError;
}

export function describeBackendContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`TokenBackend contract: ${name}`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await setup();
    });

    it('refuses to work on an account that does not exist yet (not found)', async () => {
      await expectError(h.backend.list(), 'notFound');
    });

    it('starts an account with one active API token named default', async () => {
      await h.initAccount();
      const tokens = await h.backend.list();
      expect(tokens).toHaveLength(1);
      expect(tokens[0]).toMatchObject({ name: 'default', type: 'api', deletedAt: null });
      expect(tokenStatus(tokens[0]!, h.clock.now())).toBe('active');
      const { value } = await h.backend.reveal('default');
      expect(value.split('.')).toHaveLength(3);
    });

    it('creates pending tokens that activate after 30 minutes', async () => {
      await h.initAccount();
      const { token, value } = await h.backend.create({ type: 's2s', name: 'events' });
      expect(checkOpaqueToken(value)).toEqual({ ok: true, type: 's2s' });
      expect(token.masked.endsWith(value.slice(-4))).toBe(true);
      expect(token.masked).not.toContain(value.slice(9, 20));
      expect(tokenStatus(token, h.clock.now())).toBe('pending');
      await expectError(h.backend.reveal('events'), 'pending', /pending until/);
      expect((await h.backend.reveal('events', { allowPending: true })).value).toBe(value);
      h.clock.advance(30 * MIN - 1000);
      await expectError(h.backend.reveal('events'), 'pending');
      h.clock.advance(1000);
      expect((await h.backend.reveal('events')).value).toBe(value);
    });

    it('mints API tokens as JWTs with the claims of the contract', async () => {
      await h.initAccount({ defaultToken: false });
      const { token, value } = await h.backend.create({ type: 'api', name: 'reports' });
      const [header, payload] = value.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
      expect(header).toMatchObject({ alg: 'EdDSA', typ: 'tokenctl-api+jwt' });
      expect(typeof header.kid).toBe('string');
      expect(payload.jti).toBe(token.id);
      expect(typeof payload.sub).toBe('string');
      expect(payload.iss).toContain(payload.sub);
      expect(payload.nbf * 1000).toBe(Math.floor(Date.parse(token.activatesAt) / 1000) * 1000);
      expect(payload.nbf - payload.iat).toBe(30 * 60);
    });

    it('allows at most 2 live tokens per type, and deleted ones free their slot', async () => {
      await h.initAccount();
      await h.backend.create({ type: 'onelink', name: 'a' });
      await h.backend.create({ type: 'onelink', name: 'b' });
      const err = await expectError(h.backend.create({ type: 'onelink', name: 'c' }), 'conflict', /'a' and 'b'/);
      expect(err.message).toMatch(/delete/);
      await h.backend.create({ type: 'api', name: 'second-api' });
      await expectError(h.backend.create({ type: 'api', name: 'third-api' }), 'conflict');
      await h.backend.delete('a', 'Delete token');
      await h.backend.create({ type: 'onelink', name: 'c' });
      expect((await h.backend.list()).filter((t) => t.type === 'onelink' && t.deletedAt === null).map((t) => t.name).sort()).toEqual(['b', 'c']);
    });

    it('keeps names unique ignoring case, and validates them', async () => {
      await h.initAccount();
      await expectError(h.backend.create({ type: 's2s', name: 'DEFAULT' }), 'conflict', /already exists/);
      await expectError(h.backend.create({ type: 's2s', name: 'bad\u001b[31mname' }), 'usage');
      await expectError(h.backend.create({ type: 's2s', name: 'x'.repeat(65) }), 'usage');
      await expectError(h.backend.create({ type: 's2s', name: '   ' }), 'usage');
      const { token } = await h.backend.create({ type: 's2s', name: '  Cafe\u0301  ' });
      expect(token.name).toBe('Café');
    });

    it('renames a token without changing its value', async () => {
      await h.initAccount();
      const before = (await h.backend.reveal('default')).value;
      const renamed = await h.backend.rename('default', 'reporting');
      expect(renamed.name).toBe('reporting');
      expect((await h.backend.reveal('reporting')).value).toBe(before);
      await expectError(h.backend.find('default'), 'notFound');
      await h.backend.create({ type: 's2s', name: 'other' });
      await expectError(h.backend.rename('other', 'REPORTING'), 'conflict');
      // Renaming to its own name in another case is allowed.
      expect((await h.backend.rename('reporting', 'Reporting')).name).toBe('Reporting');
    });

    it('finds tokens by id or name, and says when there is no such token', async () => {
      await h.initAccount();
      const [t] = await h.backend.list();
      expect((await h.backend.find(t!.id)).name).toBe('default');
      expect((await h.backend.find('DeFault')).id).toBe(t!.id);
      await expectError(h.backend.find('nope'), 'notFound', /tokenctl list/);
    });

    it('deletes with the exact phrase only; deleted tokens drain for 30 minutes, then are revoked', async () => {
      await h.initAccount();
      const { token } = await h.backend.create({ type: 's2s', name: 'old' });
      await expectError(h.backend.delete('old', 'delete token'), 'usage');
      expect((await h.backend.find('old')).deletedAt).toBeNull();
      const deleted = await h.backend.delete('old', 'Delete token');
      expect(deleted.deletedAt).toBe(h.clock.now().toISOString());
      const listed = (await h.backend.list()).find((t) => t.id === token.id)!;
      expect(toTokenView(listed, h.clock.now())).toMatchObject({ status: 'draining', rejectedAt: new Date(h.clock.now().getTime() + 30 * MIN).toISOString() });
      await expectError(h.backend.reveal(token.id), 'notFound', /deleted/);
      await expectError(h.backend.find('old'), 'notFound');
      // Asked again by id (a proxy resending the DELETE): the same answer, nothing changed, one audit event. By name:
      // not found (a name may be a newer token's by then).
      h.clock.advance(MIN);
      expect(await h.backend.delete(token.id, 'Delete token')).toEqual(deleted);
      await expectError(h.backend.delete('old', 'Delete token'), 'notFound', /was deleted/);
      expect((await h.backend.auditEvents()).filter((e) => e.action === 'token.delete' && e.token?.id === token.id)).toHaveLength(1);
      h.clock.advance(29 * MIN);
      expect(tokenStatus((await h.backend.list()).find((t) => t.id === token.id)!, h.clock.now())).toBe('revoked');
      // The name is free again once the token is deleted.
      await h.backend.create({ type: 's2s', name: 'old' });
    });

    it('identifies a value by fingerprint, deleted tokens included, and nothing else', async () => {
      await h.initAccount();
      const { token, value } = await h.backend.create({ type: 's2s', name: 'ident' });
      expect((await h.backend.identify(value))?.id).toBe(token.id);
      await h.backend.delete('ident', 'Delete token');
      expect((await h.backend.identify(value))?.deletedAt).not.toBeNull();
      expect(await h.backend.identify(value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A'))).toBeNull();
      expect(await h.backend.identify('not a token')).toBeNull();
    });

    it('rotates through a journal: slot check, replacement, delivery, completion only once active', async () => {
      await h.initAccount();
      await h.backend.create({ type: 's2s', name: 'ci' });
      h.clock.advance(30 * MIN);
      const start = await h.backend.startRotation('ci', {});
      expect(start.old.name).toBe('ci');
      expect(start.replacement.token.type).toBe('s2s');
      expect(checkOpaqueToken(start.replacement.value)).toEqual({ ok: true, type: 's2s' });
      expect(start.rotation).toMatchObject({ state: 'started', oldTokenId: start.old.id, newTokenId: start.replacement.token.id });
      await expectError(h.backend.startRotation('ci', {}), 'conflict', /unfinished rotation/);
      expect((await h.backend.rotations()).map((r) => r.id)).toEqual([start.rotation.id]);
      await expectError(h.backend.completeRotation(start.rotation.id, 'Delete token'), 'pending');
      const delivered = await h.backend.markRotationDelivered(start.rotation.id, 'stdout');
      expect(delivered).toMatchObject({ state: 'delivered', delivery: 'stdout' });
      await expectError(h.backend.completeRotation(start.rotation.id, 'Delete token'), 'pending', /never deleted before/);
      h.clock.advance(30 * MIN);
      await expectError(h.backend.completeRotation(start.rotation.id, 'delete'), 'usage');
      const done = await h.backend.completeRotation(start.rotation.id, 'Delete token');
      expect(done.rotation.state).toBe('completed');
      expect(done.old.deletedAt).not.toBeNull();
      expect((await h.backend.list()).filter((t) => t.deletedAt === null && t.type === 's2s').map((t) => t.id)).toEqual([start.replacement.token.id]);
    });

    it('refuses to start a rotation without a free slot, changing nothing', async () => {
      await h.initAccount();
      await h.backend.create({ type: 'api', name: 'second' });
      await expectError(h.backend.startRotation('default', {}), 'conflict', /free a slot with: tokenctl delete second \(once nothing uses it\)/);
      expect(await h.backend.rotations()).toEqual([]);
      expect(await h.backend.list()).toHaveLength(2);
    });

    it('records changes and retrievals in a verifiable audit trail, never values', async () => {
      await h.initAccount();
      const { value } = await h.backend.create({ type: 'onelink', name: 'links' });
      await h.backend.reveal('default');
      await h.backend.rename('links', 'links-2');
      await h.backend.delete('links-2', 'Delete token');
      const events = await h.backend.auditEvents();
      const actions = events.map((e) => e.action).filter((a) => a !== 'account.init');
      expect(actions).toEqual(['token.create', 'token.create', 'token.reveal', 'token.rename', 'token.delete']);
      expect(events.every((e) => typeof e.actor === 'string' && e.actor.length > 0)).toBe(true);
      expect(JSON.stringify(events)).not.toContain(value);
      expect(await h.backend.verifyAuditTrail()).toMatchObject({ ok: true });
    });

    it('publishes the public key that signs its API tokens', async () => {
      await h.initAccount();
      const { value } = await h.backend.reveal('default');
      const header = JSON.parse(Buffer.from(value.split('.')[0]!, 'base64url').toString());
      const payload = JSON.parse(Buffer.from(value.split('.')[1]!, 'base64url').toString());
      const keys = await h.backend.accountKeys();
      expect(keys.keys.map((k) => k.kid)).toContain(header.kid);
      expect(keys).toMatchObject({ accountId: payload.sub, issuer: payload.iss });
    });

    it('never puts a value in the metadata it lists', async () => {
      await h.initAccount();
      const { value } = await h.backend.create({ type: 'onelink', name: 'ol' });
      const everything = JSON.stringify(await h.backend.list());
      expect(everything).not.toContain(value);
      expect(everything).not.toContain(value.slice(8, 30));
    });
  });
}
