import { NameTakenError, TokenLimitReachedError, TokenNotFoundError, TokenPendingError, UsageError } from './errors.js';
import { formatDuration, formatInstant } from './format.js';
import { looksLikeTokenValue, nameKey, normalizeTokenName } from './names.js';

export const TOKEN_TYPES = ['api', 'onelink', 's2s'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** The spec's limits, in one place. */
export const POLICY = {
  /** "Admins can create a maximum of two tokens for each type"; deleted tokens do not count. */
  maxLivePerType: 2,
  /** "A new token becomes available for use only after 30 minutes, until which it's pending." */
  pendingMs: 30 * MINUTE,
  /** "it takes up to 30 minutes to fully reject all calls" after deletion. */
  drainMs: 30 * MINUTE,
  /** "It's recommended to replace tokens every 180 days." */
  staleAfterDays: 180,
  /** "You must confirm deleting the token by typing 'Delete token'." */
  deletePhrase: 'Delete token',
  dayMs: DAY,
} as const;

/** The spec's table of token types: each one's name and intended use (and OneLink is premium). */
export const TYPE_INFO: Readonly<Record<TokenType, { label: string; premium: boolean; use: string }>> = {
  api: { label: 'API token', premium: false, use: 'A JWT token (JSON Web Token) used to authorize API calls, such as Pull API, Cohort API, ROI API, and others.' },
  onelink: {
    label: 'OneLink API token',
    premium: true,
    use: 'A unique token used for OneLink API, which generates personalized links for optimal user engagement in large-scale campaigns.',
  },
  s2s: { label: 'S2S token', premium: false, use: 'Used for sending data using server-to-server calls.' },
};

/** Each type's name for people ("API token"). */
export const TYPE_LABELS: Readonly<Record<TokenType, string>> = { api: TYPE_INFO.api.label, onelink: TYPE_INFO.onelink.label, s2s: TYPE_INFO.s2s.label };

/** What a backend stores and returns about a token: facts only, never the value, never a status. */
export interface TokenRecord {
  id: string;
  name: string;
  type: TokenType;
  createdAt: string;
  activatesAt: string;
  deletedAt: string | null;
  lastUsedAt: string | null;
  masked: string;
}

export type TokenStatus = 'pending' | 'active' | 'draining' | 'revoked';

/** The stable JSON shape of a token (CONTRACT.md): add fields, never rename. */
export interface TokenView {
  id: string;
  name: string;
  type: TokenType;
  status: TokenStatus;
  stale: boolean;
  createdAt: string;
  activatesAt: string;
  deletedAt: string | null;
  rejectedAt: string | null;
  ageDays: number;
  rotateBy: string;
  lastUsedAt: string | null;
  masked: string;
}

export function isTokenType(value: string): value is TokenType {
  return (TOKEN_TYPES as readonly string[]).includes(value);
}

export function parseTokenType(value: string): TokenType {
  const v = value.trim().toLowerCase();
  if (!isTokenType(v)) throw new UsageError(`unknown token type '${value}'; use one of: ${TOKEN_TYPES.join(', ')}`);
  return v;
}

const ms = (iso: string) => Date.parse(iso);

export function rejectedAtOf(t: Pick<TokenRecord, 'deletedAt'>): string | null {
  return t.deletedAt === null ? null : new Date(ms(t.deletedAt) + POLICY.drainMs).toISOString();
}

/**
 * Deleted before it ever activated. Draining keeps a token that was in use working for a while; it does not start
 * one: such a token never becomes usable (its status is still `draining`, then `revoked`, as the contract defines).
 */
export function deletedWhilePending(t: Pick<TokenRecord, 'deletedAt' | 'activatesAt' | 'createdAt'>): boolean {
  return t.deletedAt !== null && !activeFromCreation(t) && ms(t.deletedAt) < ms(t.activatesAt);
}

/**
 * A token made usable at once (`default`, a replacement delivered at once): never pending, whatever the clock that
 * reads it. Another replica's clock may be a second or two behind the one that stamped it, and a drill's clock may
 * restart at the same instant in every process; neither may show such a token as pending.
 */
export function activeFromCreation(t: Pick<TokenRecord, 'activatesAt' | 'createdAt'>): boolean {
  return ms(t.activatesAt) <= ms(t.createdAt);
}

/** Status is derived from timestamps and the clock, never stored. */
export function tokenStatus(t: TokenRecord, now: Date): TokenStatus {
  const n = now.getTime();
  if (t.deletedAt !== null) return n < ms(t.deletedAt) + POLICY.drainMs ? 'draining' : 'revoked';
  return n < ms(t.activatesAt) && !activeFromCreation(t) ? 'pending' : 'active';
}

export function isLive(t: TokenRecord): boolean {
  return t.deletedAt === null;
}

export function ageDays(t: TokenRecord, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - ms(t.createdAt)) / DAY));
}

export function isStale(t: TokenRecord, now: Date, maxAgeDays: number = POLICY.staleAfterDays): boolean {
  return isLive(t) && now.getTime() - ms(t.createdAt) >= maxAgeDays * DAY;
}

export function rotateByOf(t: TokenRecord): string {
  return new Date(ms(t.createdAt) + POLICY.staleAfterDays * DAY).toISOString();
}

export function toTokenView(t: TokenRecord, now: Date): TokenView {
  return {
    id: t.id,
    name: t.name,
    type: t.type,
    status: tokenStatus(t, now),
    stale: isStale(t, now),
    createdAt: t.createdAt,
    activatesAt: t.activatesAt,
    deletedAt: t.deletedAt,
    rejectedAt: rejectedAtOf(t),
    ageDays: ageDays(t, now),
    rotateBy: rotateByOf(t),
    lastUsedAt: t.lastUsedAt,
    masked: t.masked,
  };
}

/** Sorted for display: by type, then creation time (a stable sort keeps the backend's order on ties). */
export function sortTokens<T extends Pick<TokenRecord, 'type' | 'createdAt'>>(tokens: readonly T[]): T[] {
  // ISO-8601 UTC instants order as plain strings; localeCompare would load ICU's collator (~10 ms) for nothing.
  const byTime = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...tokens].sort((a, b) => TOKEN_TYPES.indexOf(a.type) - TOKEN_TYPES.indexOf(b.type) || byTime(a.createdAt, b.createdAt));
}

/**
 * Finds a live token by id or by name (names ignore case). Deleted tokens are never resolved by name: they
 * are gone from the listing, and their values must not be retrievable.
 */
export function resolveToken(tokens: readonly TokenRecord[], ref: string): TokenRecord {
  const wanted = ref.trim();
  if (wanted === '') throw new UsageError('give a token name or id');
  if (looksLikeTokenValue(wanted)) {
    throw new UsageError(
      'that argument looks like a token value, not a name or id; never pass values on the command line (it stays in shell history). To identify a value: tokenctl verify < file',
    );
  }
  const byId = tokens.find((t) => t.id === wanted);
  if (byId && isLive(byId)) return byId;
  const key = nameKey(wanted);
  const byName = tokens.find((t) => isLive(t) && nameKey(t.name) === key);
  if (byName) return byName;
  // A deleted token is never resolved (its value must not be retrievable), but the user is told what became of it.
  const deleted =
    byId ??
    tokens
      .filter((t) => !isLive(t) && nameKey(t.name) === key)
      .sort((a, b) => (a.deletedAt! < b.deletedAt! ? 1 : a.deletedAt! > b.deletedAt! ? -1 : 0))[0];
  if (deleted) throw new TokenNotFoundError(deletedTokenMessage(deleted));
  throw new TokenNotFoundError(`no token named or with id '${wanted}'; see your tokens with: tokenctl list`);
}

/** "token 'ci' (tok_…) was deleted at …; calls made with it are rejected from …": what became of a deleted token. */
export function deletedTokenMessage(t: TokenRecord): string {
  const rejected = deletedWhilePending(t)
    ? 'it was still pending, so it never became active'
    : `calls made with it are rejected from ${formatInstant(rejectedAtOf(t)!)}`;
  return `${t.type} token '${t.name}' (${t.id}) was deleted at ${formatInstant(t.deletedAt!)}; ${rejected}. Its value can no longer be retrieved; see it with: tokenctl list --all`;
}

function assertNameFree(tokens: readonly TokenRecord[], name: string, exceptId?: string): void {
  const key = nameKey(name);
  const taken = tokens.find((t) => isLive(t) && t.id !== exceptId && nameKey(t.name) === key);
  if (taken) throw new NameTakenError(taken.name, name);
}

export interface NewTokenInput {
  id: string;
  type: TokenType;
  name: string;
  masked: string;
  /** The account's first token is usable at once (spec: "By default, an API token is generated"). */
  activeImmediately?: boolean;
}

/**
 * The rules for creating a token: a valid, unused name and a free slot of that type. Returns the record to
 * store. Pure: the caller supplies the id, the masked value and the time.
 */
/** The live tokens of a type, in display order: the tokens that hold its slots ("a maximum of two tokens for each type"). */
export function slotHolders(tokens: readonly TokenRecord[], type: TokenType): TokenRecord[] {
  return sortTokens(tokens.filter((t) => isLive(t) && t.type === type));
}

/** Whether a type's slots are all taken: no token of it can be created (deleted tokens do not count). */
export function isTypeFull(holders: readonly TokenRecord[]): boolean {
  return holders.length >= POLICY.maxLivePerType;
}

/** Whether stored data breaks the limit: more live tokens of a type than it allows (a damaged or hand-edited store). */
export function isOverTypeLimit(holders: readonly TokenRecord[]): boolean {
  return holders.length > POLICY.maxLivePerType;
}

export function planCreateToken(tokens: readonly TokenRecord[], input: NewTokenInput, now: Date): TokenRecord {
  const name = normalizeTokenName(input.name);
  const holders = slotHolders(tokens, input.type);
  if (isTypeFull(holders)) {
    throw new TokenLimitReachedError(
      `type ${input.type} already has ${POLICY.maxLivePerType} live tokens (${holders.map((t) => `'${t.name}'`).join(' and ')}); ` +
        `delete one first (tokenctl delete <name>) or replace one with: tokenctl rotate <name>`,
    );
  }
  assertNameFree(tokens, name);
  const createdAt = now.toISOString();
  return {
    id: input.id,
    name,
    type: input.type,
    createdAt,
    activatesAt: input.activeImmediately ? createdAt : new Date(now.getTime() + POLICY.pendingMs).toISOString(),
    deletedAt: null,
    lastUsedAt: null,
    masked: input.masked,
  };
}

export function planRenameToken(tokens: readonly TokenRecord[], token: TokenRecord, newName: string): TokenRecord {
  const name = normalizeTokenName(newName);
  assertNameFree(tokens, name, token.id);
  return { ...token, name };
}

export function isDeletePhrase(text: string | undefined): boolean {
  return text === POLICY.deletePhrase;
}

/**
 * A deletion asked again of a token already deleted, named by its exact id (a proxy resending a DELETE whose first
 * answer was lost, a client retrying): that token, to be answered as it is, with nothing changed or recorded; null
 * when `ref` is not such an id. A name is never matched: it may name a newer token now.
 */
export function alreadyDeleted(tokens: readonly TokenRecord[], ref: string): TokenRecord | null {
  const wanted = ref.trim();
  return tokens.find((t) => t.id === wanted && t.deletedAt !== null) ?? null;
}

export function planDeleteToken(token: TokenRecord, now: Date): TokenRecord {
  return { ...token, deletedAt: now.toISOString() };
}

/** True when deleting `token` leaves its type with no active token: dependent systems will fail. */
export function isLastActiveOfType(tokens: readonly TokenRecord[], token: TokenRecord, now: Date): boolean {
  return !tokens.some((t) => t.id !== token.id && t.type === token.type && tokenStatus(t, now) === 'active');
}

/**
 * What deleting `token` does to its type, when that is worth a warning; null when another active token of the type
 * stays. Only states what is true: a pending token is never "the last active" one.
 */
export function deletionWarning(tokens: readonly TokenRecord[], token: TokenRecord, now: Date): string | null {
  const others = sortTokens(tokens.filter((t) => t.id !== token.id && t.type === token.type && isLive(t)));
  if (others.some((t) => tokenStatus(t, now) === 'active')) return null;
  const pending = others.find((t) => tokenStatus(t, now) === 'pending');
  const status = tokenStatus(token, now);
  if (status === 'active') {
    return pending
      ? `this is the last active ${TYPE_LABELS[token.type]} ('${pending.name}' is pending until ${formatInstant(pending.activatesAt)}): systems that depend on it will fail once it is rejected`
      : `this is the last active ${TYPE_LABELS[token.type]}: systems that depend on it will fail once it is rejected`;
  }
  if (status === 'pending' && !pending) {
    return `no ${token.type} token is active, and this pending one is the only one that would become active: after deleting it, the account has no usable ${token.type} token`;
  }
  return null;
}

/** A pending token is not usable yet, so its value is refused unless explicitly allowed. */
export function assertRetrievable(token: TokenRecord, now: Date, allowPending = false): void {
  if (allowPending || tokenStatus(token, now) !== 'pending') return;
  throw new TokenPendingError(
    `token '${token.name}' is pending until ${formatInstant(token.activatesAt)} (in ${formatDuration(Date.parse(token.activatesAt) - now.getTime())}) ` +
      'and cannot be used yet; wait, or pass --allow-pending to retrieve it now',
  );
}
