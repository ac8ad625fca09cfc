import { TokenctlError, TokenLimitReachedError } from './errors.js';
import { formatDuration, formatInstant } from './format.js';
import { NAME_MAX_LENGTH, nameKey } from './names.js';
import { isLive, POLICY, sortTokens, tokenStatus, type TokenRecord } from './tokens.js';

/**
 * The spec's safe replacement order, as a journal: "create the new token, implement it, and only after it
 * becomes available ... delete the old token". Each step is recorded before the next can fail, so an
 * interrupted rotation resumes where it stopped.
 */
export type RotationState = 'started' | 'delivered' | 'completed' | 'abandoned';

export interface RotationRecord {
  id: string;
  oldTokenId: string;
  newTokenId: string;
  type: TokenRecord['type'];
  state: RotationState;
  startedAt: string;
  deliveredAt: string | null;
  completedAt: string | null;
  /** How the value was delivered: printed on stdout, or handed to an --exec command. */
  delivery: 'stdout' | 'exec' | null;
  note: string | null;
}

export const ROTATION_STATES: readonly RotationState[] = ['started', 'delivered', 'completed', 'abandoned'];

export function isUnfinished(r: RotationRecord): boolean {
  return r.state === 'started' || r.state === 'delivered';
}

/** The unfinished rotation a token takes part in (as the old or the new token), if any. */
export function findUnfinishedRotation(rotations: readonly RotationRecord[], tokenId: string): RotationRecord | null {
  return rotations.find((r) => isUnfinished(r) && (r.oldTokenId === tokenId || r.newTokenId === tokenId)) ?? null;
}

/** "<name>-YYYYMMDD", replacing an earlier date suffix, kept within 64 characters and unique. */
export function deriveReplacementName(tokens: readonly TokenRecord[], oldName: string, now: Date): string {
  const stamp = now.toISOString().slice(0, 10).replace(/-/g, '');
  const base = oldName.replace(/-\d{8}(-\d+)?$/, '');
  const taken = new Set(tokens.filter(isLive).map((t) => nameKey(t.name)));
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? `-${stamp}` : `-${stamp}-${n}`;
    const candidate = [...base].slice(0, NAME_MAX_LENGTH - suffix.length).join('') + suffix;
    if (!taken.has(nameKey(candidate))) return candidate;
  }
}

/** Step 1: a slot must be free. Never delete implicitly; say which token to delete first. */
export function assertRotationSlot(tokens: readonly TokenRecord[], old: TokenRecord, now: Date): void {
  const live = sortTokens(tokens.filter((t) => isLive(t) && t.type === old.type));
  if (live.length < POLICY.maxLivePerType) return;
  const others = live.filter((t) => t.id !== old.id);
  const pending = others.find((t) => tokenStatus(t, now) === 'pending');
  const victim = pending ?? others[0] ?? old;
  const why = pending ? 'it is still pending, so nothing can depend on it yet' : 'it is the other live token of that type';
  throw new TokenLimitReachedError(
    `type ${old.type} already has ${POLICY.maxLivePerType} live tokens (${live.map((t) => `'${t.name}'`).join(' and ')}), so there is no slot for a replacement; ` +
      `nothing was changed. Delete '${victim.name}' first (${why}): tokenctl delete ${victim.name}`,
  );
}

export class RotationError extends TokenctlError {}

/** The journal entry of a rotation that has just created its replacement. */
export function planRotation(id: string, old: TokenRecord, newTokenId: string, now: Date): RotationRecord {
  return {
    id,
    oldTokenId: old.id,
    newTokenId,
    type: old.type,
    state: 'started',
    startedAt: now.toISOString(),
    deliveredAt: null,
    completedAt: null,
    delivery: null,
    note: null,
  };
}

/**
 * Step 4: the replacement's value was handed out (printed, or given to an --exec command). Delivering again
 * (a resumed rotation prints the value once more) keeps the first delivery; a finished rotation delivers nothing.
 */
export function planDelivery(r: RotationRecord, delivery: 'stdout' | 'exec', now: Date): RotationRecord {
  assertUnfinished(r, 'delivered');
  if (r.state !== 'started') return r;
  return { ...r, state: 'delivered', delivery, deliveredAt: now.toISOString() };
}

/** Step 5: the old token is deleted (by the caller, in the same change) and the journal entry closed. */
export function planCompletion(r: RotationRecord, replacement: TokenRecord | undefined, now: Date): RotationRecord {
  assertCanComplete(r, replacement, now);
  return { ...r, state: 'completed', completedAt: now.toISOString() };
}

/** Giving up a rotation leaves both tokens as they are; a rotation that already ended cannot be abandoned. */
export function planAbandon(r: RotationRecord, reason: string): RotationRecord {
  assertUnfinished(r, 'abandoned');
  return { ...r, state: 'abandoned', note: reason };
}

function assertUnfinished(r: RotationRecord, wanted: string): void {
  if (isUnfinished(r)) return;
  throw new RotationError('conflict', `rotation ${r.id} is already ${r.state}; it cannot be ${wanted} now. See it with: tokenctl audit`);
}

/** Step 5 guard: the old token is never deleted before the new one is active. */
export function assertCanComplete(r: RotationRecord, replacement: TokenRecord | undefined, now: Date): void {
  assertUnfinished(r, 'completed');
  if (!replacement || !isLive(replacement)) {
    throw new RotationError('conflict', `the replacement token ${r.newTokenId} of this rotation was deleted; start a new rotation`);
  }
  if (tokenStatus(replacement, now) === 'pending') {
    throw new RotationError(
      'pending',
      `the replacement '${replacement.name}' is pending until ${formatInstant(replacement.activatesAt)} ` +
        `(in ${formatDuration(Date.parse(replacement.activatesAt) - now.getTime())}); the old token is never deleted before the new one is active`,
    );
  }
  if (r.state !== 'delivered') {
    throw new RotationError('conflict', `this rotation is ${r.state}; only a delivered rotation can be completed`);
  }
}

/**
 * The completed rotation a reference is about, if any: the old token it replaced (deleted, found by name or id)
 * or the replacement it created (by name or id). The latest one wins.
 */
export function findCompletedRotation(
  rotations: readonly RotationRecord[],
  tokens: readonly TokenRecord[],
  ref: string,
): { rotation: RotationRecord; old: TokenRecord | undefined; replacement: TokenRecord | undefined } | null {
  const wanted = ref.trim();
  const key = nameKey(wanted);
  const matches = (t: TokenRecord | undefined) => t !== undefined && (t.id === wanted || nameKey(t.name) === key);
  const byId = new Map(tokens.map((t) => [t.id, t]));
  const done = rotations
    .filter((r) => r.state === 'completed')
    .sort((a, b) => ((a.completedAt ?? '') < (b.completedAt ?? '') ? 1 : -1))
    .find((r) => {
      const old = byId.get(r.oldTokenId);
      const replacement = byId.get(r.newTokenId);
      return (matches(old) && !isLive(old!)) || (matches(replacement) && isLive(replacement!));
    });
  return done ? { rotation: done, old: byId.get(done.oldTokenId), replacement: byId.get(done.newTokenId) } : null;
}
