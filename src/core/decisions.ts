import { mayCreateType, type AccountFeatures } from './features.js';
import { formatAgo, formatDuration, formatInstant } from './format.js';
import { findUnfinishedRotation, type ReplacementPath, type RotationRecord } from './rotation.js';
import {
  ageDays,
  deletedWhilePending,
  isLive,
  isTypeFull,
  POLICY,
  rejectedAtOf,
  slotHolders,
  tokenStatus,
  TOKEN_TYPES,
  TYPE_LABELS,
  type TokenRecord,
  type TokenStatus,
  type TokenType,
} from './tokens.js';

/**
 * The decisions every surface shows, made once: the CLI, the API and the Tokens page render them and derive none
 * of them again (a view that re-derives a status, a limit or a wording drifts from the others).
 */

// ---- what can be created, and why not ---------------------------------------------------------------------------

export type Creatable =
  | { type: TokenType; allowed: true }
  /** OneLink is premium: the account does not have the feature. */
  | { type: TokenType; allowed: false; reason: 'premium' }
  /** "A maximum of two tokens for each type": the live tokens that hold the slots. */
  | { type: TokenType; allowed: false; reason: 'full'; holders: TokenRecord[] };

/** For each type, in the spec's order, whether the account may create one now, and if not, why. */
export function creatableTypes(tokens: readonly TokenRecord[], features: AccountFeatures): Creatable[] {
  return TOKEN_TYPES.map((type): Creatable => {
    if (!mayCreateType(features, type)) return { type, allowed: false, reason: 'premium' };
    const holders = slotHolders(tokens, type);
    return isTypeFull(holders) ? { type, allowed: false, reason: 'full', holders } : { type, allowed: true };
  });
}

/** Why a type cannot be created now, in words that name the tokens holding its slots (no command: each surface adds its own way). */
export function notCreatableReason(c: Exclude<Creatable, { allowed: true }>): string {
  if (c.reason === 'premium') return `${TYPE_LABELS[c.type]}s are a premium feature, and this account does not have it`;
  return `it already has ${POLICY.maxLivePerType} live tokens (${c.holders.map((t) => `'${t.name}'`).join(' and ')}); delete one of them first, or replace one`;
}

// ---- what a deletion does -----------------------------------------------------------------------------------------

/**
 * What deleting a token does (or did): one that was still pending never becomes active, whatever the 30-minute
 * drain says (draining keeps a token in use working; it does not start one); one that was active keeps working until
 * `until`, then calls with it are rejected.
 */
export type DeletionEffect = { kind: 'never-active' } | { kind: 'drains'; until: string };

/** The effect of deleting `token` at `at`, or of its deletion when it is deleted already. */
export function deletionEffect(token: TokenRecord, at: Date): DeletionEffect {
  const deleted: TokenRecord = token.deletedAt === null ? { ...token, deletedAt: at.toISOString() } : token;
  return deletedWhilePending(deleted) ? { kind: 'never-active' } : { kind: 'drains', until: rejectedAtOf(deleted)! };
}

/** The effect as a sentence: before the deletion (`will`), or after it. */
export function deletionEffectText(effect: DeletionEffect, tense: 'will' | 'did'): string {
  if (effect.kind === 'never-active') return tense === 'will' ? 'It is still pending: once deleted, it never becomes active.' : 'It was still pending, so it never becomes active.';
  return tense === 'will'
    ? `Calls made with it keep working for up to ${formatDuration(POLICY.drainMs, 'words')} after deletion (until about ${formatInstant(effect.until)}), then are rejected.`
    : `Calls made with it keep working until ${formatInstant(effect.until)}, then are rejected.`;
}

/** A deleted token's state in words: draining until when, revoked, or never active (deleted while pending). */
export function deletedStateText(token: TokenRecord, now: Date): string {
  const effect = deletionEffect(token, now);
  if (effect.kind === 'never-active') return 'deleted while pending: it never became active';
  return tokenStatus(token, now) === 'draining' ? `deleted: calls are rejected from ${formatInstant(effect.until)}` : `revoked: calls are rejected since ${formatInstant(effect.until)}`;
}

// ---- the rotation's current step -----------------------------------------------------------------------------------

/**
 * Where an unfinished rotation stands, as every surface shows it: put the new value in place (`deliver`), wait until
 * it is active (`wait`, until `activeAt`), delete the old token (`delete`); `abandon` when its replacement was
 * deleted (the rotation cannot finish: it is given up, both tokens as they are); `finished` once completed or
 * abandoned.
 */
export type RotationStep =
  | { step: 'deliver'; activeAt: string | null }
  | { step: 'wait'; activeAt: string }
  | { step: 'delete' }
  | { step: 'abandon'; why: string }
  | { step: 'finished' };

export function rotationStep(r: RotationRecord, replacement: TokenRecord | undefined, now: Date): RotationStep {
  if (r.state === 'completed' || r.state === 'abandoned') return { step: 'finished' };
  if (!replacement || !isLive(replacement)) return { step: 'abandon', why: 'the replacement token was deleted' };
  const pending = tokenStatus(replacement, now) === 'pending';
  if (r.state === 'started') return { step: 'deliver', activeAt: pending ? replacement.activatesAt : null };
  return pending ? { step: 'wait', activeAt: replacement.activatesAt } : { step: 'delete' };
}

/** The rotation a token takes part in, with its step, for a view of that token. */
export function rotationOf(rotations: readonly RotationRecord[], tokens: readonly TokenRecord[], tokenId: string, now: Date): { rotation: RotationRecord; step: RotationStep } | null {
  const rotation = findUnfinishedRotation(rotations, tokenId);
  if (!rotation) return null;
  return { rotation, step: rotationStep(rotation, tokens.find((t) => t.id === rotation.newTokenId), now) };
}

// ---- a pending token ----------------------------------------------------------------------------------------------

/** "pending until 2026-11-29 14:05 UTC (in 29 min)": when a pending token becomes usable. */
export function pendingText(token: TokenRecord, now: Date, style: 'short' | 'words' = 'words'): string {
  return `pending until ${formatInstant(token.activatesAt)} (in ${formatDuration(Date.parse(token.activatesAt) - now.getTime(), style)})`;
}

/** Why a pending token's value is not handed out without a second thought: "pending until … (in 29 min) and cannot be used yet". */
export function notUsableYet(token: TokenRecord, now: Date, style: 'short' | 'words' = 'words'): string {
  return `${pendingText(token, now, style)} and cannot be used yet`;
}

/** What to do with a token just created, while it is pending (spec: "Make sure to implement the new token in your systems"). */
export function pendingAfterCreate(token: TokenRecord, now: Date, style: 'short' | 'words' = 'words'): string {
  return `${pendingText(token, now, style)}: put it in place now; calls made with it are rejected until then`;
}

// ---- a token's status, in words -----------------------------------------------------------------------------------

export interface StatusWords {
  status: TokenStatus;
  /** The status as a badge says it: "Pending", "Active", "Draining", "Revoked". */
  label: string;
  /** The time in words beside it: "active in 29 min", "rejected in 12 min", "never active"; null: nothing to add. */
  detail: string | null;
  /** The exact instant behind it, for a tooltip: "active from 2026-03-01 10:30 UTC"; null: none. */
  exact: string | null;
}

/**
 * A token's status as a page shows it at a glance: the status, and when it changes, in words. A token deleted while
 * pending never became active, whatever its status says (draining keeps a token in use working; it starts none).
 */
export function statusInWords(token: TokenRecord, now: Date): StatusWords {
  const status = tokenStatus(token, now);
  const label = status.charAt(0).toUpperCase() + status.slice(1);
  const left = (iso: string) => formatDuration(Date.parse(iso) - now.getTime(), 'words');
  if (status === 'pending') return { status, label, detail: `active in ${left(token.activatesAt)}`, exact: `active from ${formatInstant(token.activatesAt)}` };
  if (status === 'active') return { status, label, detail: null, exact: null };
  if (deletedWhilePending(token)) return { status, label, detail: 'never active', exact: deletedStateText(token, now) };
  const until = rejectedAtOf(token)!;
  return status === 'draining'
    ? { status, label, detail: `rejected in ${left(until)}`, exact: deletedStateText(token, now) }
    : { status, label, detail: null, exact: deletedStateText(token, now) };
}

/** How old a token is, for a table: "12 min ago" on its first day, then "1 day ago", "193 days ago" (the stale rule counts days). */
export function ageText(token: TokenRecord, now: Date): string {
  const days = ageDays(token, now);
  if (days === 0) return formatAgo(now.getTime() - Date.parse(token.createdAt), 'short');
  return `${days} day${days === 1 ? '' : 's'} ago`;
}

/** When a token was last seen in use, for a table: "5 min ago", or "never". */
export function lastUsedText(token: TokenRecord, now: Date): string {
  return token.lastUsedAt === null ? 'never' : formatAgo(now.getTime() - Date.parse(token.lastUsedAt), 'short');
}

/** Why a live token is flagged stale: "193 days old; it's recommended to replace tokens every 180 days". */
export function staleText(token: TokenRecord, now: Date): string {
  return `${ageDays(token, now)} days old; it's recommended to replace tokens every ${POLICY.staleAfterDays} days`;
}

// ---- how to replace a token, in words --------------------------------------------------------------------------------

/**
 * How a token can be replaced now (rotation.ts: replacementPath), in words and without a command, for a surface with
 * its own buttons (the Tokens page): only what can work, so a full type says which token to delete first.
 */
export function replacementPathText(path: ReplacementPath, token: TokenRecord, now: Date): string {
  if (path.kind === 'continue') {
    if (path.role === 'new') return `it is the replacement of '${path.old.name}', under way: continue replacing '${path.old.name}'`;
    return `its replacement${path.replacement ? `, '${path.replacement.name}',` : ''} is under way: continue replacing '${token.name}'`;
  }
  if (path.kind === 'replace') return `create its replacement, put it in place, and delete '${token.name}' once the replacement is active`;
  const { other } = path;
  const left = formatDuration(Date.parse(other.activatesAt) - now.getTime(), 'words');
  const pending = tokenStatus(other, now) === 'pending' ? `, pending until ${formatInstant(other.activatesAt)}, in ${left},` : '';
  return (
    `its type has no free slot: if '${other.name}'${pending} replaces it, put '${other.name}' in place, then delete '${token.name}'; ` +
    `if not, delete '${other.name}' first (once nothing uses it), then replace '${token.name}'`
  );
}
