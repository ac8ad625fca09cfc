import { afterEach, describe, expect, it } from 'vitest';
import { manualClock, type ManualClock } from '../../src/core/clock.js';
import { exitCodeFor } from '../../src/core/errors.js';
import { POLICY, tokenStatus } from '../../src/core/tokens.js';
import type { AccountWriter, TokenStorage } from '../../src/storage/port.js';
import { createAccount, TokenService } from '../../src/tokens/token-service.js';

/**
 * One contract for every implementation of the storage port (src/storage/port.ts), exercised through the token
 * service, as the backends and the server use it. A runner supplies `open()`: a NEW storage instance on the same
 * data each time it is called (two instances stand for two processes sharing the data).
 */
export interface StorageHarness {
  open(): Promise<TokenStorage<AccountWriter>>;
  /** Releases connections and removes the data. */
  cleanup(): Promise<void>;
}

const MINUTE = 60_000;
const codeOf = async (p: Promise<unknown>) => p.then(() => 0, exitCodeFor);

export function describeStorageContract(name: string, makeHarness: () => Promise<StorageHarness>): void {
  describe(`storage contract: ${name}`, () => {
    let harness: StorageHarness | undefined;
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    async function setup(opts: { defaultToken?: boolean } = {}) {
      harness = await makeHarness();
      const clock: ManualClock = manualClock('2026-03-01T10:00:00.000Z');
      const storage = await harness.open();
      const { account, tokens } = await createAccount(storage, { name: 'acme', defaultToken: opts.defaultToken ?? true }, { clock, actor: 'test:admin' });
      const service = (s: TokenStorage<AccountWriter> = storage, actor = 'test:admin') => new TokenService({ storage: s, accountId: account.id, actor, clock });
      return { clock, storage, account, tokens, service, harness };
    }

    it('creates the account, its signing key and an active default token in one change, recorded in the trail', async () => {
      const { service, tokens, clock, storage, account } = await setup();
      expect(tokens.map((t) => [t.name, t.type, tokenStatus(t, clock.now())])).toEqual([['default', 'api', 'active']]);
      const events = await service().auditEvents();
      expect(events.map((e) => [e.action, e.detail?.delivered ?? null])).toEqual([
        ['account.init', null],
        ['token.create', 'no'],
      ]);
      expect((await service().accountKeys()).keys).toHaveLength(1);
      // Its keys: the one new API tokens are signed with, the newest, and every one before it (here, just one).
      const [newest, all] = await storage.read(account.id, async (tx) => [await tx.signingKey(), await tx.signingKeys()] as const);
      expect(all).toEqual([newest]);
      expect(newest.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
      expect(await service().verifyAuditTrail()).toMatchObject({ ok: true, events: 2 });
    });

    it('records a created token as delivered (its value was printed), so the review does not call it never-retrieved', async () => {
      const { service } = await setup();
      const created = await service().create({ type: 's2s', name: 'ci' });
      expect(created.value).toMatch(/^tctl_s2s_/);
      const last = (await service().auditEvents()).at(-1)!;
      expect(last).toMatchObject({ action: 'token.create', token: { id: created.token.id }, detail: { delivered: 'yes' }, actor: 'test:admin' });
      expect(last.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('applies the rules: 2 live per type, unique names ignoring case, pending until 30 minutes, deletion by phrase', async () => {
      const { service, clock } = await setup();
      const s = service();
      const one = await s.create({ type: 'onelink', name: 'Partner' });
      expect(await codeOf(s.create({ type: 'onelink', name: 'partner' }))).toBe(4);
      await s.create({ type: 'onelink', name: 'second' });
      expect(await codeOf(s.create({ type: 'onelink', name: 'third' }))).toBe(4);
      expect(await codeOf(s.reveal('Partner'))).toBe(5);
      expect((await s.reveal('partner', { allowPending: true })).value).toBe(one.value);
      clock.advance(POLICY.pendingMs);
      expect((await s.reveal(one.token.id)).value).toBe(one.value);
      expect(await codeOf(s.delete('Partner', 'delete token'))).toBe(2);
      const deleted = await s.delete('Partner', POLICY.deletePhrase);
      expect(tokenStatus(deleted, clock.now())).toBe('draining');
      expect(await codeOf(s.reveal(one.token.id))).toBe(3);
      expect((await s.identify(one.value))?.id).toBe(one.token.id);
      await s.create({ type: 'onelink', name: 'Partner' });
      expect((await s.rename('second', 'Renamed')).name).toBe('Renamed');
      expect((await s.list()).filter((t) => t.deletedAt === null).map((t) => t.name).sort()).toEqual(['Partner', 'Renamed', 'default']);
      expect(await s.verifyAuditTrail()).toMatchObject({ ok: true });
    });

    it('guards the rotation journal: no completion before the replacement is active, nothing after it ended', async () => {
      const { service, clock } = await setup();
      const s = service();
      const started = await s.startRotation('default');
      expect(started.rotation.state).toBe('started');
      expect(await codeOf(s.startRotation('default'))).toBe(4);
      expect((await s.markRotationDelivered(started.rotation.id, 'stdout')).state).toBe('delivered');
      expect(await codeOf(s.completeRotation(started.rotation.id, POLICY.deletePhrase))).toBe(5);
      clock.advance(POLICY.pendingMs);
      const done = await s.completeRotation(started.rotation.id, POLICY.deletePhrase);
      expect(done.rotation.state).toBe('completed');
      expect(done.old.deletedAt).not.toBeNull();
      // A completed rotation cannot be abandoned, delivered or completed again: a conflict, and nothing recorded.
      const before = (await s.auditEvents()).length;
      expect(await codeOf(s.abandonRotation(started.rotation.id, 'oops'))).toBe(4);
      expect(await codeOf(s.markRotationDelivered(started.rotation.id, 'exec'))).toBe(4);
      expect(await codeOf(s.completeRotation(started.rotation.id, POLICY.deletePhrase))).toBe(4);
      expect((await s.auditEvents()).length).toBe(before);
      expect((await s.rotations()).map((r) => r.state)).toEqual(['completed']);

      const again = await s.startRotation(started.replacement.token.id);
      expect((await s.abandonRotation(again.rotation.id, 'changed my mind')).state).toBe('abandoned');
      expect(await codeOf(s.abandonRotation(again.rotation.id, 'twice'))).toBe(4);
      expect((await s.auditEvents()).map((e) => e.action).filter((a) => a.startsWith('rotation.'))).toEqual([
        'rotation.start',
        'rotation.deliver',
        'rotation.complete',
        'rotation.start',
        'rotation.abandon',
      ]);
    });

    it('keeps 2 per type under 50 concurrent creates from two instances on the same data, with one linear trail', async () => {
      const { service, storage, harness: h } = await setup();
      const other = await h.open();
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => service(i % 2 === 0 ? storage : other, `test:writer-${i % 2}`).create({ type: 's2s', name: `t${i}` })),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(2);
      expect(refused.map((r) => exitCodeFor(r.reason))).toEqual(Array(48).fill(4));
      const live = (await service(other).list()).filter((t) => t.type === 's2s');
      expect(live).toHaveLength(2);
      const events = await service().auditEvents();
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.filter((e) => e.action === 'token.create')).toHaveLength(3);
      expect(await service(other).verifyAuditTrail()).toMatchObject({ ok: true, events: events.length });
    });

    it('lets one of two concurrent renames to the same name win, one on each instance', async () => {
      const { service, storage, harness: h } = await setup();
      const other = await h.open();
      await service().create({ type: 's2s', name: 'a' });
      await service().create({ type: 's2s', name: 'b' });
      const results = await Promise.allSettled([service(storage).rename('a', 'Same'), service(other).rename('b', 'same')]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(exitCodeFor((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason)).toBe(4);
      expect((await service().list()).filter((t) => t.name.toLowerCase() === 'same')).toHaveLength(1);
    });

    it('changes nothing when a write fails in the middle: no row, no audit entry, the trail intact', async () => {
      const { service, storage, account } = await setup();
      const before = { tokens: await service().list(), events: await service().auditEvents() };
      const boom = new Error('cut in the middle');
      await expect(
        storage.write(account.id, { actor: 'test:admin', at: '2026-03-01T10:00:00.000Z' }, async (tx) => {
          const t = (await tx.tokens())[0]!;
          await tx.updateToken({ ...t, name: 'half-written' });
          await tx.audit([{ action: 'token.rename', token: { id: t.id, name: 'half-written', type: t.type }, fingerprint: null, detail: { from: t.name, to: 'half-written' } }]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      const reopened = service(await harness!.open());
      expect(await reopened.list()).toEqual(before.tokens);
      expect(await reopened.auditEvents()).toEqual(before.events);
      expect(await reopened.verifyAuditTrail()).toMatchObject({ ok: true, events: before.events.length });
      // The storage is still usable after the failed change.
      expect((await reopened.create({ type: 's2s', name: 'after' })).token.name).toBe('after');
    });

    it('creates an account all or nothing: a failure in the same change leaves no account behind', async () => {
      harness = await makeHarness();
      const clock = manualClock('2026-03-01T10:00:00.000Z');
      const storage = await harness.open();
      const boom = new Error('crash before the first admin');
      await expect(
        createAccount(storage, { name: 'acme', defaultToken: true }, { clock, actor: 'test' }, async () => {
          throw boom;
        }),
      ).rejects.toBe(boom);
      // The same account can be created afterwards: nothing of the first try remains.
      const { account, tokens } = await createAccount(await harness.open(), { name: 'acme', defaultToken: true }, { clock, actor: 'test' });
      expect(tokens).toHaveLength(1);
      const events = await storage.auditEvents(account.id);
      expect(events.map((e) => e.action)).toEqual(['account.init', 'token.create']);
    });

    it('keeps an account created without a features list able to do everything (OneLink included), like a local store', async () => {
      const { service, account } = await setup();
      const stored = await service().account();
      expect(stored).toMatchObject({ id: account.id, name: 'acme' });
      // Absent means every feature (StoredAccount.features); a store that records a list records all of them.
      if (stored.features !== undefined) expect(stored.features).toContain('onelink');
      expect((await service().create({ type: 'onelink', name: 'links' })).value).toMatch(/^tctl_ol_/);
    });

    it('sees a change made through another instance at once', async () => {
      const { service, harness: h, clock } = await setup();
      const other = service(await h.open());
      const created = await other.create({ type: 'api', name: 'jwt' });
      expect(created.value.split('.')).toHaveLength(3);
      const seen = (await service().list()).find((t) => t.id === created.token.id)!;
      expect(tokenStatus(seen, clock.now())).toBe('pending');
      expect(Date.parse(seen.activatesAt) - clock.now().getTime()).toBe(30 * MINUTE);
    });
  });
}
