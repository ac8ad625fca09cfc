import { mayCreateType, type AccountFeatures } from './features.js';
import { formatDuration, formatInstant } from './format.js';
import { findUnfinishedRotation, type RotationRecord } from './rotation.js';
import { deletedWhilePending, isLive, isTypeFull, POLICY, rejectedAtOf, slotHolders, tokenStatus, TOKEN_TYPES, TYPE_LABELS, type TokenRecord, type TokenType } from './tokens.js';

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
export function pendingText(token: TokenRecord, now: Date): string {
  return `pending until ${formatInstant(token.activatesAt)} (in ${formatDuration(Date.parse(token.activatesAt) - now.getTime(), 'words')})`;
}
