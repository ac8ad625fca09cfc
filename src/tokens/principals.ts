import type { Clock } from '../core/clock.js';
import { TokenctlError, TokenNotFoundError } from '../core/errors.js';
import { changeFeatures, type Feature } from '../core/features.js';
import { nameKey, normalizeTokenName } from '../core/names.js';
import type { Role } from '../core/roles.js';
import { hashCredential, mintCredential } from '../secrets/credentials.js';
import { algOfJwk, generateSigningKey, type SigningAlg } from '../secrets/jwt.js';
import { randomBase62 } from '../secrets/opaque.js';
import type { StoredAccount, TokenStorage } from '../storage/port.js';
import type { AccountDirectory, PrincipalRecord, ServiceAccountReader, ServiceAccountWriter } from '../storage/service-port.js';
import { createAccount, signingKeyAad } from './token-service.js';
import { auditEntries } from '../core/audit.js';

/**
 * The service's accounts and principals (who may call it, with which role), as use cases over the SQL storage.
 * Credentials are minted here and stored only as hashes; each is shown once, to the operator who made it.
 */
export type Principal = Omit<PrincipalRecord, 'createdAt'>;

/** The actor recorded for changes made with `tokenctl server ...` on the service's own machine. */
export const SERVER_ACTOR = 'server:operator';

/** The actor recorded for a principal's changes. */
export function actorOf(p: { name: string; role: string; id: string }): string {
  return `${p.role}:${p.name} (${p.id})`;
}

/** What the account and principal use cases need: the token storage with principals, and accounts by name. */
export type AccountStorage = TokenStorage<ServiceAccountWriter, ServiceAccountReader> & AccountDirectory;

const change = (clock: Clock) => ({ actor: SERVER_ACTOR, at: clock.now().toISOString() });

async function accountNamed(storage: AccountStorage, name: string): Promise<StoredAccount> {
  const account = await storage.accountByName(name);
  if (!account) throw new TokenNotFoundError(`no account named '${name}' on this service; create one with: tokenctl server init --data <dir> --account <name>`);
  return account;
}

async function insertPrincipal(tx: ServiceAccountWriter, rawName: string, role: Role, now: Date): Promise<{ principal: Principal; credential: string }> {
  const record: PrincipalRecord = { id: `prn_${randomBase62(16)}`, accountId: tx.accountId, name: normalizeTokenName(rawName), role, createdAt: now.toISOString() };
  const credential = mintCredential();
  await tx.insertPrincipal(record, hashCredential(credential));
  const { createdAt: _, ...principal } = record;
  return { principal, credential };
}

/**
 * A new account with its first admin and (by default) the `default` API token: one change, all or nothing. It has
 * the premium features it is given, by default none (OneLink is premium: the operator enables it).
 */
export async function initServiceAccount(
  storage: AccountStorage,
  input: { name: string; defaultToken: boolean; adminName?: string; features?: readonly Feature[]; signingAlg?: SigningAlg },
  clock: Clock,
  publicUrl: string | null = null,
) {
  const r = await createAccount(storage, { ...input, features: input.features ?? [] }, { clock, actor: SERVER_ACTOR, publicUrl }, (tx) =>
    insertPrincipal(tx, input.adminName ?? 'admin', 'admin', clock.now()),
  );
  return { account: r.account, tokens: r.tokens, admin: r.extra.principal, credential: r.extra.credential };
}

export async function addPrincipal(storage: AccountStorage, accountName: string, role: Role, name: string, clock: Clock) {
  const account = await accountNamed(storage, accountName);
  return storage.write(account.id, change(clock), (tx) => insertPrincipal(tx, name, role, clock.now()));
}

export async function listPrincipals(storage: AccountStorage, accountName: string): Promise<PrincipalRecord[]> {
  const account = await accountNamed(storage, accountName);
  return storage.read(account.id, (tx) => tx.principals());
}

/**
 * Removes a principal, so that its credential stops working (a leaked one, say); a running service notices within
 * the few seconds it remembers authentications. The last admin of an account stays: add another first.
 */
export async function removePrincipal(storage: AccountStorage, accountName: string, ref: string, clock: Clock): Promise<Principal> {
  const account = await accountNamed(storage, accountName);
  return storage.write(account.id, change(clock), async (tx) => {
    const principals = await tx.principals();
    const wanted = ref.trim();
    const p = principals.find((x) => x.id === wanted || nameKey(x.name) === nameKey(wanted.normalize('NFC')));
    if (!p) throw new TokenNotFoundError(`no principal named '${ref}' in account '${accountName}'; see them with: tokenctl server principals --data <dir> --account ${accountName}`);
    if (p.role === 'admin' && principals.filter((x) => x.role === 'admin').length === 1) {
      throw new TokenctlError('conflict', `'${p.name}' is the last admin of account '${accountName}'; add another admin first (tokenctl server add-principal --role admin)`);
    }
    await tx.deletePrincipal(p.id);
    const { createdAt: _, ...principal } = p;
    return principal;
  });
}

/** An account as the operator sees it: its id, name, creation time and premium features. */
export async function showAccount(storage: AccountStorage, accountName: string): Promise<StoredAccount & { features: readonly Feature[] }> {
  const account = await accountNamed(storage, accountName);
  return { ...account, features: account.features ?? [] };
}

/**
 * Turns premium features on or off for an account (OneLink). Existing tokens stay as they are: disabling OneLink
 * stops new OneLink tokens (and rotations into one), it never deletes or blocks the ones the account has.
 */
export async function setAccountFeatures(
  storage: AccountStorage,
  accountName: string,
  change: { enable?: readonly Feature[]; disable?: readonly Feature[] },
  clock: Clock,
): Promise<{ account: StoredAccount; features: Feature[]; before: readonly Feature[] }> {
  const account = await accountNamed(storage, accountName);
  return storage.write(account.id, { actor: SERVER_ACTOR, at: clock.now().toISOString() }, async (tx) => {
    const current = await tx.account();
    const before = current.features ?? [];
    const features = changeFeatures(before, change);
    await tx.setFeatures(features);
    return { account: { ...current, features }, features, before };
  });
}

/** The algorithm and key id new API tokens of an account are signed with, and every key that still verifies. */
export interface AccountSigning {
  alg: SigningAlg;
  kid: string;
  keys: { kid: string; alg: SigningAlg; createdAt: string }[];
}

export async function accountSigning(storage: AccountStorage, accountName: string): Promise<AccountSigning> {
  const account = await accountNamed(storage, accountName);
  const keys = await storage.read(account.id, (tx) => tx.signingKeys());
  return signingOf(keys.map((k) => ({ kid: k.kid, alg: algOfJwk(k.publicJwk), createdAt: k.createdAt })));
}

function signingOf(keys: AccountSigning['keys']): AccountSigning {
  const newest = keys.at(-1);
  if (!newest) throw new TokenctlError('data', 'the account has no signing key; restore the database from a backup');
  return { alg: newest.alg, kid: newest.kid, keys };
}

/**
 * Chooses the algorithm of an account's API tokens from now on: a new signing key of that algorithm, with which every
 * API token created from now on is signed. Tokens already issued keep verifying (their keys stay in the account's
 * JWKS). Nothing changes when the newest key already has that algorithm. Recorded in the account's audit trail.
 */
export async function setSigningAlgorithm(storage: AccountStorage, accountName: string, alg: SigningAlg, clock: Clock): Promise<AccountSigning & { changed: boolean; before: SigningAlg }> {
  const account = await accountNamed(storage, accountName);
  const sealer = await storage.sealer();
  return storage.write(account.id, change(clock), async (tx) => {
    const keys = (await tx.signingKeys()).map((k) => ({ kid: k.kid, alg: algOfJwk(k.publicJwk), createdAt: k.createdAt }));
    const current = signingOf(keys);
    if (current.alg === alg) return { ...current, changed: false, before: current.alg };
    const material = generateSigningKey(alg);
    // Newer than every key the account has (the newest key signs), even when the clock stands still (a drill).
    const newestMs = Math.max(...keys.map((k) => Date.parse(k.createdAt)));
    const createdAt = new Date(Math.max(clock.now().getTime(), newestMs + 1)).toISOString();
    await tx.insertSigningKey({ kid: material.kid, publicJwk: material.publicJwk, privateKey: sealer.seal(material.privatePkcs8Pem, signingKeyAad(account.id)), createdAt });
    await tx.audit([auditEntries.signingKeyAdded(material, current)]);
    return { ...signingOf([...keys, { kid: material.kid, alg, createdAt }]), changed: true, before: current.alg };
  });
}
