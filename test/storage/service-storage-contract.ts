import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/core/errors.js';
import { FEATURES } from '../../src/core/features.js';
import type { Role } from '../../src/core/roles.js';
import type { TokenType } from '../../src/core/tokens.js';
import { generateSigningKey } from '../../src/secrets/jwt.js';
import type { Sealer } from '../../src/secrets/seal.js';
import type { ChangeContext, StoredAccount, StoredToken } from '../../src/storage/port.js';
import type { ChangeListener, ChangeSubscription, PrincipalRecord, ServiceStorage, WebSessionRecord } from '../../src/storage/service-port.js';

/**
 * One contract for every implementation of the service's storage port (src/storage/service-port.ts), beyond the
 * token storage that storage-contract.ts covers: accounts and principals, the Tokens page's sessions, last-used
 * batches, index snapshots and change listening, shared failed-authentication counts, health and closing. It uses
 * the port only (no SQL). A runner supplies `open()`: a NEW storage instance on the same data each time it is called
 * (two instances stand for two processes, or two replicas, sharing the data), and says how the storage tells
 * changes (`traits`), which the port lets differ.
 */
export interface ServiceStorageHarness {
  open(): Promise<ServiceStorage>;
  /** Closes what is still open and removes the data. */
  cleanup(): Promise<void>;
}

export interface ServiceStorageTraits {
  /**
   * How a change committed through another instance is told: `notified` (a `changed(accountId)` as it commits:
   * PostgreSQL), or `looked-for` (`connected` again once the source has looked, every second or at once with
   * lookNow: SQLite).
   */
  changes: 'notified' | 'looked-for';
  /** Whether failed authentications are counted for every instance (sharedAuthFailures is not null). */
  sharedAuthFailures: boolean;
}

const T0 = '2026-03-01T10:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();
const change = (minutes = 0): ChangeContext => ({ actor: 'test:contract', at: at(minutes) });
const codeOf = async (p: Promise<unknown> | unknown) => Promise.resolve(p).then(() => 0, exitCodeFor);
const random = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

/** Polls until `check` holds (for at most `ms`), never sleeping a fixed time. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A ChangeListener that writes down what it is told, in order. */
function recorder() {
  const events: string[] = [];
  const listener: ChangeListener = {
    changed: (accountId) => void events.push(`changed ${accountId}`),
    blocked: (address, untilMs) => void events.push(`blocked ${address} ${untilMs}`),
    connected: () => void events.push('connected'),
    disconnected: () => void events.push('disconnected'),
  };
  return { events, listener, count: (event: string) => events.filter((e) => e === event).length };
}

/** A new account through the port: its signing key made with the store's sealer, in the same change. */
async function newAccount(storage: ServiceStorage, name: string, opts: { features?: StoredAccount['features']; minutes?: number; more?: () => never } = {}) {
  const account: StoredAccount = { id: random('acc'), name, createdAt: at(opts.minutes ?? 0), ...(opts.features ? { features: opts.features } : {}) };
  const material = generateSigningKey();
  const key = { kid: material.kid, publicJwk: material.publicJwk, createdAt: account.createdAt };
  await storage.createAccount(
    { account, signingKey: (sealer: Sealer) => ({ ...key, privateKey: sealer.seal(material.privatePkcs8Pem, `${account.id}:signing-key`) }) },
    change(opts.minutes),
    () => opts.more?.(),
  );
  return { account, key };
}

/** A token as the token service would store it (a value's fingerprint under the store's key, its sealed value). */
async function newToken(storage: ServiceStorage, fields: { name: string; type?: TokenType; createdAt?: string; activatesAt?: string; deletedAt?: string | null }): Promise<StoredToken> {
  const sealer = await storage.sealer();
  const id = random('tok');
  const type = fields.type ?? 's2s';
  const value = `tctl_${type}_${randomBytes(24).toString('base64url')}`;
  const createdAt = fields.createdAt ?? T0;
  return {
    id,
    name: fields.name,
    type,
    createdAt,
    activatesAt: fields.activatesAt ?? createdAt,
    deletedAt: fields.deletedAt ?? null,
    lastUsedAt: null,
    masked: `tctl_${type}_…${value.slice(-4)}`,
    fingerprint: sealer.fingerprint(value),
    secret: fields.deletedAt ? null : sealer.seal(value, `${id}`),
  };
}

const principal = (accountId: string, name: string, role: Role = 'service', minutes = 0): PrincipalRecord => ({ id: random('prn'), accountId, name, role, createdAt: at(minutes) });
const credentialHash = () => randomBytes(32);
const sessionId = () => randomBytes(32);

export function describeServiceStorageContract(name: string, traits: ServiceStorageTraits, makeHarness: () => Promise<ServiceStorageHarness>): void {
  describe(`service storage contract: ${name}`, () => {
    let harness: ServiceStorageHarness | undefined;
    const subscriptions: ChangeSubscription[] = [];
    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.close()));
      await harness?.cleanup();
      harness = undefined;
    });

    /** Two instances on one new database, and an account `acme` made through the first. */
    async function setup() {
      harness = await makeHarness();
      const a = await harness.open();
      const b = await harness.open();
      const { account, key } = await newAccount(a, 'acme');
      return { a, b, account, key, h: harness };
    }

    const listen = (storage: ServiceStorage) => {
      const r = recorder();
      const subscription = storage.listen(r.listener);
      subscriptions.push(subscription);
      return { ...r, subscription };
    };

    // ---- accounts ---------------------------------------------------------------------------------------------

    it('creates an account with its signing key in one change, found by name ignoring case and spaces, on every instance', async () => {
      const { a, b, account, key } = await setup();
      expect(await a.read(account.id, (tx) => tx.account())).toEqual({ ...account, features: [...FEATURES] }); // no list given: every feature
      expect(await a.read(account.id, async (tx) => (await tx.signingKey()).kid)).toBe(key.kid);
      expect(await b.accountByName('  ACME ')).toEqual({ ...account, features: [...FEATURES] });
      expect(await b.accountByName('acme-2')).toBeNull();

      // All or nothing: an account whose change fails does not exist, and its name is still free.
      const boom = (): never => {
        throw new Error('boom');
      };
      await expect(newAccount(a, 'beta', { features: [], more: boom })).rejects.toThrow('boom');
      expect(await b.accountByName('beta')).toBeNull();
      const beta = await newAccount(b, 'beta', { features: [] });
      expect(await a.accountByName('BETA')).toEqual({ ...beta.account, features: [] });
      expect(await codeOf(a.write(random('acc'), change(), () => undefined))).toBe(3);
    });

    it('refuses an account name that is taken, ignoring case (exit 4), also when two instances create it at once', async () => {
      const { a, b, account } = await setup();
      expect(await codeOf(newAccount(b, 'Acme'))).toBe(4);
      expect((await a.accountByName('acme'))?.id).toBe(account.id);

      const both = await Promise.allSettled([newAccount(a, 'shared'), newAccount(b, 'SHARED')]);
      expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const made = both.find((r) => r.status === 'fulfilled')!;
      expect(await codeOf(Promise.reject((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason))).toBe(4);
      expect((await b.accountByName('shared'))?.id).toBe(made.value.account.id);
    });

    it("stores the features the operator sets, each once, and every instance reads them", async () => {
      const { a, b, account } = await setup();
      await a.write(account.id, change(), (tx) => tx.setFeatures(['onelink', 'onelink']));
      expect((await b.read(account.id, (tx) => tx.account())).features).toEqual(['onelink']);
      await b.write(account.id, change(), (tx) => tx.setFeatures([]));
      expect((await a.accountByName('acme'))!.features).toEqual([]);
    });

    // ---- principals -------------------------------------------------------------------------------------------

    it('adds principals, lists them by creation time, and refuses a name taken in the account (exit 2) with nothing changed', async () => {
      const { a, b, account } = await setup();
      const admin = principal(account.id, 'admin', 'admin', 0);
      const gateway = principal(account.id, 'gateway', 'service', 1);
      await a.write(account.id, change(1), async (tx) => {
        await tx.insertPrincipal(gateway, credentialHash()); // added first, created later: listed second
        await tx.insertPrincipal(admin, credentialHash());
      });
      expect(await b.read(account.id, (tx) => tx.principals())).toEqual([admin, gateway]);
      // Created at the same time (a drill's fixed instant): by name, whatever the order they were added in.
      const [x, y] = [principal(account.id, 'x', 'user', 1), principal(account.id, 'y', 'user', 1)];
      await a.write(account.id, change(1), async (tx) => {
        await tx.insertPrincipal(y, credentialHash());
        await tx.insertPrincipal(x, credentialHash());
      });
      expect((await a.read(account.id, (tx) => tx.principals())).map((p) => p.name)).toEqual(['admin', 'gateway', 'x', 'y']);

      const other = principal(account.id, 'other', 'user', 2);
      const taken = b.write(account.id, change(2), async (tx) => {
        await tx.insertPrincipal(other, credentialHash());
        await tx.insertPrincipal(principal(account.id, 'GATEWAY', 'user', 2), credentialHash());
      });
      expect(await codeOf(taken)).toBe(2);
      await expect(taken).rejects.toThrow(/a principal named 'GATEWAY' already exists/);
      expect((await a.read(account.id, (tx) => tx.principals())).map((p) => p.name).sort()).toEqual(['admin', 'gateway', 'x', 'y']);

      // The same name in another account is another principal.
      const beta = await newAccount(b, 'beta');
      const betaGateway = principal(beta.account.id, 'gateway');
      await b.write(beta.account.id, change(), (tx) => tx.insertPrincipal(betaGateway, credentialHash()));
      expect(await a.read(beta.account.id, (tx) => tx.principals())).toEqual([betaGateway]);
    });

    it('finds principals by credential hash in the snapshot; a removed one is gone from it, and its sessions with it', async () => {
      const { a, b, account } = await setup();
      const gateway = principal(account.id, 'gateway');
      const hash = credentialHash();
      await a.write(account.id, change(), (tx) => tx.insertPrincipal(gateway, hash));
      const found = (await b.indexSnapshot(null, T0)).principals.find((p) => p.credentialHash.equals(hash));
      expect(found).toEqual({ ...gateway, credentialHash: hash });
      expect(Buffer.isBuffer(found!.credentialHash)).toBe(true);

      const id = sessionId();
      await a.createWebSession({ idHash: id, principalId: gateway.id, accountId: account.id, createdAt: T0, lastSeenAt: T0 });
      await b.write(account.id, change(), (tx) => tx.deletePrincipal(gateway.id));
      expect(await a.read(account.id, (tx) => tx.principals())).toEqual([]);
      expect((await a.indexSnapshot(account.id, T0)).principals).toEqual([]);
      expect(await a.webSession(id)).toBeNull();
      // Removing one that is not there (any more) changes nothing.
      await a.write(account.id, change(), (tx) => tx.deletePrincipal(gateway.id));
    });

    // ---- the Tokens page's sessions ---------------------------------------------------------------------------

    it('keeps a session by the hash of its id, served by any instance, with its principal as it is now', async () => {
      const { a, b, account } = await setup();
      const admin = principal(account.id, 'admin', 'admin');
      await a.write(account.id, change(), (tx) => tx.insertPrincipal(admin, credentialHash()));
      const session: WebSessionRecord = { idHash: sessionId(), principalId: admin.id, accountId: account.id, createdAt: at(1), lastSeenAt: at(2) };
      await a.createWebSession(session);
      expect(await b.webSession(Buffer.from(session.idHash))).toEqual({ ...session, principal: admin });
      expect(await b.webSession(sessionId())).toBeNull();
      await b.deleteWebSession(session.idHash);
      expect(await a.webSession(session.idHash)).toBeNull();
      await a.deleteWebSession(session.idHash); // gone already: nothing to do
    });

    it('moves last-seen forward only, and forgets sessions idle or started too long ago, saying how many', async () => {
      const { a, b, account } = await setup();
      const admin = principal(account.id, 'admin', 'admin');
      await a.write(account.id, change(), (tx) => tx.insertPrincipal(admin, credentialHash()));
      const session = (createdAt: string, lastSeenAt: string): WebSessionRecord => ({ idHash: sessionId(), principalId: admin.id, accountId: account.id, createdAt, lastSeenAt });
      const s = session(at(0), at(10));
      await a.createWebSession(s);
      await b.touchWebSession(s.idHash, at(20));
      expect((await a.webSession(s.idHash))!.lastSeenAt).toBe(at(20));
      await a.touchWebSession(s.idHash, at(15)); // an older request's touch, written late
      expect((await b.webSession(s.idHash))!.lastSeenAt).toBe(at(20));

      const idle = session(at(0), at(19)); // idle since before minute 20
      const old = session(at(-1), at(40)); // started before minute 0
      const fresh = session(at(0), at(20)); // both limits exactly: kept
      for (const x of [idle, old, fresh]) await b.createWebSession(x);
      expect(await a.deleteExpiredWebSessions(at(20), at(0))).toBe(2);
      expect(await b.webSession(idle.idHash)).toBeNull();
      expect(await b.webSession(old.idHash)).toBeNull();
      expect((await b.webSession(fresh.idHash))?.lastSeenAt).toBe(at(20));
      expect((await b.webSession(s.idHash))?.lastSeenAt).toBe(at(20));
      expect(await b.deleteExpiredWebSessions(at(20), at(0))).toBe(0);
    });

    // ---- last-used times ----------------------------------------------------------------------------------------

    it('writes a batch of uses; a last-used time never moves backwards whoever wrote last; unknown ids and empty batches change nothing', async () => {
      const { a, b, account } = await setup();
      const one = await newToken(a, { name: 'one' });
      const two = await newToken(a, { name: 'two' });
      await a.write(account.id, change(), async (tx) => {
        await tx.insertToken(one);
        await tx.insertToken(two);
      });
      const lastUsed = async (s: ServiceStorage) => Object.fromEntries((await s.read(account.id, (tx) => tx.tokens())).map((t) => [t.name, t.lastUsedAt]));
      // A batch of uses (usage/recorder.ts writes one every few seconds): here only the last-used times matter.
      const used = (entries: [string, string][]) => entries.map(([tokenId, lastUsedAt]) => ({ tokenId, lastUsedAt, hours: [], callers: [] }));

      await a.recordUsage(used([[one.id, at(5)], [random('tok'), at(5)]]), null);
      expect(await lastUsed(b)).toEqual({ one: at(5), two: null });
      await b.recordUsage(used([[one.id, at(9)], [two.id, at(7)]]), null);
      await a.recordUsage(used([[one.id, at(6)], [two.id, at(8)]]), null); // one: older, written last: ignored
      expect(await lastUsed(a)).toEqual({ one: at(9), two: at(8) });
      await b.recordUsage([], null);
      expect(await lastUsed(b)).toEqual({ one: at(9), two: at(8) });
    });

    // ---- what the service keeps in memory ------------------------------------------------------------------------

    it('snapshots live tokens, deleted ones from revokedBefore on, principals and public keys, of one account or of all', async () => {
      const { a, b, account, key } = await setup();
      const revokedBefore = at(60);
      const live = await newToken(a, { name: 'live', type: 'api' });
      const pending = await newToken(a, { name: 'pending', createdAt: at(50), activatesAt: at(80) });
      const recent = await newToken(a, { name: 'recent', deletedAt: revokedBefore }); // deleted at the limit: kept
      const old = await newToken(a, { name: 'old', deletedAt: new Date(Date.parse(revokedBefore) - 1).toISOString() });
      const gateway = principal(account.id, 'gateway');
      const hash = credentialHash();
      await a.write(account.id, change(), async (tx) => {
        for (const t of [live, pending, recent, old]) await tx.insertToken(t);
        await tx.insertPrincipal(gateway, hash);
      });
      const beta = await newAccount(b, 'beta', { minutes: 1 });
      const betaToken = await newToken(b, { name: 'live', type: 'onelink' });
      await b.write(beta.account.id, change(1), (tx) => tx.insertToken(betaToken));

      const indexed = (t: StoredToken, accountId: string) => ({
        id: t.id,
        accountId,
        type: t.type,
        createdAt: t.createdAt,
        activatesAt: t.activatesAt,
        deletedAt: t.deletedAt,
        fingerprint: t.fingerprint,
      });
      const publicKey = (k: typeof key, accountId: string) => ({ kid: k.kid, accountId, publicJwk: { ...k.publicJwk, kid: k.kid, alg: 'EdDSA', use: 'sig' } });
      const byId = <T extends { id: string }>(list: T[]) => [...list].sort((x, y) => x.id.localeCompare(y.id));

      for (const s of [a, b]) {
        const all = await s.indexSnapshot(null, revokedBefore);
        expect(byId(all.tokens)).toEqual(byId([indexed(live, account.id), indexed(pending, account.id), indexed(recent, account.id), indexed(betaToken, beta.account.id)]));
        expect(all.principals).toEqual([{ ...gateway, credentialHash: hash }]);
        expect([...all.signingKeys].sort((x, y) => x.accountId.localeCompare(y.accountId))).toEqual(
          [publicKey(key, account.id), publicKey(beta.key, beta.account.id)].sort((x, y) => x.accountId.localeCompare(y.accountId)),
        );

        const acme = await s.indexSnapshot(account.id, revokedBefore);
        expect(byId(acme.tokens)).toEqual(byId([indexed(live, account.id), indexed(pending, account.id), indexed(recent, account.id)]));
        expect(acme.principals).toEqual([{ ...gateway, credentialHash: hash }]);
        expect(acme.signingKeys).toEqual([publicKey(key, account.id)]);
        // What is kept in memory holds no name, value or sealed secret.
        expect(Object.keys(acme.tokens[0]!).sort()).toEqual(['accountId', 'activatesAt', 'createdAt', 'deletedAt', 'fingerprint', 'id', 'type']);

        // A later revokedBefore drops what was deleted before it; an unknown account has nothing.
        expect((await s.indexSnapshot(account.id, at(61))).tokens.map((t) => t.id).sort()).toEqual([live.id, pending.id].sort());
        expect(await s.indexSnapshot(random('acc'), revokedBefore)).toEqual({ tokens: [], principals: [], signingKeys: [] });
      }
    });

    it('serverSealer is the store key\'s sealer, synchronously: the fingerprints the snapshot is keyed by, on every instance', async () => {
      const { a, b } = await setup();
      expect(a.serverSealer.fingerprint('tctl_s2s_example')).toBe((await a.sealer()).fingerprint('tctl_s2s_example'));
      expect(b.serverSealer.fingerprint('tctl_s2s_example')).toBe(a.serverSealer.fingerprint('tctl_s2s_example'));
    });

    // ---- listening for changes ------------------------------------------------------------------------------------

    it('tells `connected` first, after listen() has returned', async () => {
      const { a } = await setup();
      let returned = false;
      const told: boolean[] = [];
      const r = recorder();
      const subscription = a.listen({ ...r.listener, connected: () => (told.push(returned), r.listener.connected()) });
      returned = true;
      subscriptions.push(subscription);
      await waitFor('connected', () => r.count('connected') > 0);
      expect(r.events[0]).toBe('connected');
      expect(told).toEqual([true]);
    });

    it('tells a change committed through another instance: by `changed(accountId)` as it commits, or `connected` again once looked for', async () => {
      const { a, b, account } = await setup();
      const heard = listen(a);
      await waitFor('connected', () => heard.count('connected') === 1);
      const token = await newToken(b, { name: 'elsewhere' });
      await b.write(account.id, change(), (tx) => tx.insertToken(token));

      if (traits.changes === 'notified') {
        expect(heard.subscription.lookNow).toBeUndefined();
        await waitFor(`changed ${account.id}`, () => heard.events.includes(`changed ${account.id}`));
        // A new account and a principal are changes of their account too.
        const beta = await newAccount(b, 'beta');
        await waitFor(`changed ${beta.account.id}`, () => heard.events.includes(`changed ${beta.account.id}`));
        const before = heard.count(`changed ${beta.account.id}`);
        await b.write(beta.account.id, change(), (tx) => tx.insertPrincipal(principal(beta.account.id, 'gateway'), credentialHash()));
        await waitFor('the principal told', () => heard.count(`changed ${beta.account.id}`) > before);
      } else {
        // Looked for at once: told synchronously, true; nothing more to tell right after.
        expect(heard.subscription.lookNow!()).toBe(true);
        expect(heard.events).toEqual(['connected', 'connected']);
        expect(heard.subscription.lookNow!()).toBe(false);
        // And by the source's own looks, without being asked.
        await b.write(account.id, change(), (tx) => tx.insertPrincipal(principal(account.id, 'gateway'), credentialHash()));
        await waitFor('connected again', () => heard.count('connected') === 3);
      }
      expect(heard.events).not.toContain('disconnected');
      // What it is told of is there to read.
      expect((await a.indexSnapshot(account.id, T0)).tokens.map((t) => t.id)).toContain(token.id);
    });

    it('does not tell a change that was not committed', async () => {
      const { a, b, account } = await setup();
      const heard = listen(a);
      await waitFor('connected', () => heard.count('connected') === 1);
      const failed = b.write(account.id, change(), async (tx) => {
        await tx.insertToken(await newToken(b, { name: 'rolled-back' }));
        throw new Error('changed my mind');
      });
      await expect(failed).rejects.toThrow('changed my mind');
      if (traits.changes === 'looked-for') expect(heard.subscription.lookNow!()).toBe(false);
      const beta = await newAccount(b, 'beta'); // committed after the failed one
      if (traits.changes === 'notified') await waitFor('the committed change', () => heard.events.includes(`changed ${beta.account.id}`));
      else expect(heard.subscription.lookNow!()).toBe(true);
      expect(heard.events).not.toContain(`changed ${account.id}`);
      expect((await a.read(account.id, (tx) => tx.tokens())).map((t) => t.name)).toEqual([]);
    });

    it('tells nothing more once a subscription is closed, while another goes on; closing the storage ends its subscriptions', async () => {
      const { a, b, account, h } = await setup();
      const first = listen(a);
      const second = listen(a);
      await waitFor('both connected', () => first.count('connected') === 1 && second.count('connected') === 1);
      await first.subscription.close();
      const before = [...first.events];
      await b.write(account.id, change(), async (tx) => tx.insertToken(await newToken(b, { name: 'after-close' })));
      if (traits.changes === 'notified') await waitFor('the open one told', () => second.events.includes(`changed ${account.id}`));
      else {
        expect(first.subscription.lookNow!()).toBe(false);
        expect(second.subscription.lookNow!()).toBe(true);
      }
      expect(first.events).toEqual(before);

      // Closing the storage closes what still listens on it: a third instance is told of the next change, not it.
      const c = await h.open();
      const third = listen(c);
      await waitFor('connected', () => third.count('connected') === 1);
      await a.close();
      const told = [...second.events];
      await b.write(account.id, change(), async (tx) => tx.insertToken(await newToken(b, { name: 'after-storage-close' })));
      if (traits.changes === 'notified') await waitFor('the third told', () => third.count(`changed ${account.id}`) > 0);
      else {
        expect(second.subscription.lookNow!()).toBe(false);
        expect(third.subscription.lookNow!()).toBe(true);
      }
      expect(second.events).toEqual(told);
    });

    // ---- failed authentications counted for every instance --------------------------------------------------------

    it(traits.sharedAuthFailures ? 'counts failed authentications for every instance (sharedAuthFailures)' : 'counts failed authentications in the process (sharedAuthFailures is null)', async () => {
      const { a, b } = await setup();
      expect(a.sharedAuthFailures === null).toBe(!traits.sharedAuthFailures);
      expect(b.sharedAuthFailures === null).toBe(!traits.sharedAuthFailures);
    });

    if (traits.sharedAuthFailures) {
      const limit = { maxFailures: 3, windowMs: 60_000, blockMs: 120_000 };

      it('counts failures per address across instances, blocks at the limit, and lists the blocks active now', async () => {
        const { a, b } = await setup();
        const [sa, sb] = [a.sharedAuthFailures!, b.sharedAuthFailures!];
        const now = Date.now();
        expect(await sa.recordAuthFailure('192.0.2.1', now, limit)).toEqual({ untilMs: 0, failures: 1 });
        expect(await sb.recordAuthFailure('192.0.2.1', now + 1, limit)).toEqual({ untilMs: 0, failures: 2 });
        expect(await sa.recordAuthFailure('192.0.2.2', now + 1, limit)).toEqual({ untilMs: 0, failures: 1 }); // another address
        expect(await sb.activeBlocks(now + 2)).toEqual([]);
        expect(await sa.recordAuthFailure('192.0.2.1', now + 2, limit)).toEqual({ untilMs: now + 2 + limit.blockMs, failures: 3 });
        // Beyond the limit: still blocked, counted on.
        expect(await sb.recordAuthFailure('192.0.2.1', now + 3, limit)).toEqual({ untilMs: now + 3 + limit.blockMs, failures: 4 });
        expect(await sa.activeBlocks(now + 4)).toEqual([{ address: '192.0.2.1', untilMs: now + 3 + limit.blockMs }]);
        expect(await sb.activeBlocks(now + 3 + limit.blockMs)).toEqual([]); // ended
      });

      it('starts the count again in a new window; a block outlives its window; pruning forgets only what has ended', async () => {
        const { a, b } = await setup();
        const [sa, sb] = [a.sharedAuthFailures!, b.sharedAuthFailures!];
        const now = Date.now();
        for (let i = 0; i < 3; i++) await sa.recordAuthFailure('192.0.2.1', now, limit);
        await sa.recordAuthFailure('192.0.2.2', now, limit);
        const until = now + limit.blockMs;
        const afterWindow = now + limit.windowMs + 1;
        // Both windows are over; 192.0.2.1's block is not: pruning keeps it.
        await sb.pruneAuthFailures(afterWindow, limit.windowMs);
        expect(await sa.activeBlocks(afterWindow)).toEqual([{ address: '192.0.2.1', untilMs: until }]);
        expect(await sb.recordAuthFailure('192.0.2.1', afterWindow, limit)).toEqual({ untilMs: until, failures: 1 });
        // A count within its window survives pruning.
        await sa.recordAuthFailure('192.0.2.3', afterWindow, limit);
        await sa.pruneAuthFailures(afterWindow + 1, limit.windowMs);
        expect(await sb.recordAuthFailure('192.0.2.3', afterWindow + 2, limit)).toEqual({ untilMs: 0, failures: 2 });
        // Once the block has ended too, nothing of it is active, pruned or not.
        await sb.pruneAuthFailures(until + limit.windowMs + 1, limit.windowMs);
        expect(await sa.activeBlocks(until)).toEqual([]);
      });

      it('tells a block to listeners of the other instances (and the blocking one)', async () => {
        const { a, b } = await setup();
        const [other, blocking] = [listen(a), listen(b)];
        await waitFor('connected', () => other.count('connected') === 1 && blocking.count('connected') === 1);
        const now = Date.now();
        let result = { untilMs: 0, failures: 0 };
        for (let i = 0; i < limit.maxFailures; i++) result = await b.sharedAuthFailures!.recordAuthFailure('198.51.100.7', now, limit);
        expect(result.untilMs).toBe(now + limit.blockMs);
        for (const heard of [other, blocking]) await waitFor('blocked', () => heard.events.includes(`blocked 198.51.100.7 ${result.untilMs}`));
        expect(other.events.filter((e) => e.startsWith('blocked'))).toEqual([`blocked 198.51.100.7 ${result.untilMs}`]); // once, at the limit
      });
    }

    // ---- health, housekeeping, closing --------------------------------------------------------------------------

    it('is ready while it can serve; once closed (twice is harmless) it is not, and refuses every operation as unavailable (exit 8)', async () => {
      const { a, b, account } = await setup();
      const heard = listen(a);
      await waitFor('connected', () => heard.count('connected') === 1);
      expect(await a.ready()).toBe(true);
      expect(await b.ready()).toBe(true);
      const admin = principal(account.id, 'admin', 'admin');
      await b.write(account.id, change(), (tx) => tx.insertPrincipal(admin, credentialHash()));
      await a.close();
      await a.close();
      expect(await a.ready()).toBe(false);
      // Refused, synchronously or not, with the named fault the service answers 503 (never a TypeError, a 500).
      const refused = (fn: () => unknown) => Promise.resolve().then(fn).then(() => 0, exitCodeFor);
      const session: WebSessionRecord = { idHash: sessionId(), principalId: admin.id, accountId: account.id, createdAt: T0, lastSeenAt: T0 };
      expect({
        read: await refused(() => a.read(account.id, (tx) => tx.tokens())),
        write: await refused(() => a.write(account.id, change(), (tx) => tx.setFeatures([]))),
        accountByName: await refused(() => a.accountByName('acme')),
        indexSnapshot: await refused(() => a.indexSnapshot(null, T0)),
        listen: await refused(() => a.listen(recorder().listener)),
        recordUsage: await refused(() => a.recordUsage([{ tokenId: random('tok'), lastUsedAt: T0, hours: [], callers: [] }], null)),
        createWebSession: await refused(() => a.createWebSession(session)),
        webSession: await refused(() => a.webSession(session.idHash)),
      }).toEqual({ read: 8, write: 8, accountByName: 8, indexSnapshot: 8, listen: 8, recordUsage: 8, createWebSession: 8, webSession: 8 });
      // The other instance goes on.
      expect(await b.ready()).toBe(true);
      await b.createWebSession(session);
      expect((await b.webSession(session.idHash))?.principal).toEqual(admin);
    });

    it('maintain() changes nothing a caller can see, and the storage goes on', async () => {
      const { a, b, account } = await setup();
      const admin = principal(account.id, 'admin', 'admin');
      await a.write(account.id, change(), async (tx) => {
        await tx.insertPrincipal(admin, credentialHash());
        await tx.insertToken(await newToken(a, { name: 'kept' }));
      });
      const session: WebSessionRecord = { idHash: sessionId(), principalId: admin.id, accountId: account.id, createdAt: T0, lastSeenAt: T0 };
      await a.createWebSession(session);
      const snapshot = async (s: ServiceStorage) => {
        const x = await s.indexSnapshot(null, T0);
        return { ...x, tokens: [...x.tokens].sort((p, q) => p.id.localeCompare(q.id)) };
      };
      const before = await snapshot(b);
      await a.maintain(Date.now());
      await b.maintain(Date.now() + 24 * 3600_000);
      expect(await snapshot(a)).toEqual(before);
      expect((await b.webSession(session.idHash))?.principal).toEqual(admin);
      await a.write(account.id, change(), async (tx) => tx.insertToken(await newToken(a, { name: 'after' })));
      expect((await b.read(account.id, (tx) => tx.tokens())).map((t) => t.name)).toEqual(['kept', 'after']);
    });
  });
}
