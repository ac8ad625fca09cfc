import { TokenctlError, TokenLimitReachedError } from './errors.js';
import { formatDuration, formatInstant, plainCommand, type CommandLine } from './format.js';
import { NAME_MAX_LENGTH, nameKey } from './names.js';
import { isLive, isTypeFull, POLICY, slotHolders, tokenStatus, type TokenRecord } from './tokens.js';

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
    // Cut to fit, without leaving a hyphen or a space before the suffix ("…-and--20260301").
    const candidate = [...base].slice(0, NAME_MAX_LENGTH - suffix.length).join('').replace(/[-\s]+$/, '') + suffix;
    if (!taken.has(nameKey(candidate))) return candidate;
  }
}

/**
 * When `old`'s type has no free slot, the other live token of the type (the pending one first: it is the likelier
 * stand-in or mistake); null when a slot is free.
 */
function occupant(tokens: readonly TokenRecord[], old: TokenRecord, now: Date): TokenRecord | null {
  const live = slotHolders(tokens, old.type);
  if (!isTypeFull(live)) return null;
  const others = live.filter((t) => t.id !== old.id);
  return others.find((t) => tokenStatus(t, now) === 'pending') ?? others[0] ?? old;
}

/**
 * What can be done when `old`'s type is full, so that rotate cannot create its replacement: either the other token
 * already is its replacement (put it in place, then delete `old`), or it is not (delete it first, once nothing uses
 * it, then rotate). A pending token may be in use already: `create` told its owner to put it in place at once.
 */
function fullTypeAdvice(other: TokenRecord, old: TokenRecord, now: Date, command: CommandLine): string {
  const pending = tokenStatus(other, now) === 'pending' ? ` (pending until ${formatInstant(other.activatesAt)})` : '';
  return (
    `if '${other.name}'${pending} replaces '${old.name}', put it in place, then run: ${command(['delete', old.name])}; ` +
    `if not, free a slot with: ${command(['delete', other.name])} (once nothing uses it), then run: ${command(['rotate', old.name])}`
  );
}

/** Step 1: a slot must be free. Never delete implicitly; say what can free one. */
export function assertRotationSlot(tokens: readonly TokenRecord[], old: TokenRecord, now: Date, command: CommandLine = plainCommand): void {
  const other = occupant(tokens, old, now);
  if (!other) return;
  const live = slotHolders(tokens, old.type);
  throw new TokenLimitReachedError(
    `type ${old.type} already has ${POLICY.maxLivePerType} live tokens (${live.map((t) => `'${t.name}'`).join(' and ')}), so there is no slot for a replacement; ` +
      `nothing was changed. ${upperFirst(fullTypeAdvice(other, old, now, command))}`,
  );
}

const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * How a token can be replaced now, decided once for every surface: the rotation it already takes part in
 * (`continue`, as the old token or as the new one), a new rotation (`replace`: its type has a free slot), or, when
 * its type is full, `full` with the other token that holds a slot (the pending one first). Each surface words it: the
 * CLI with commands (replacementAdvice), the page with its buttons (decisions.ts: replacementPathText).
 */
export type ReplacementPath =
  | { kind: 'continue'; rotation: RotationRecord; role: 'old' | 'new'; old: TokenRecord; replacement: TokenRecord | undefined }
  | { kind: 'replace' }
  | { kind: 'full'; other: TokenRecord; holders: TokenRecord[] };

export function replacementPath(tokens: readonly TokenRecord[], rotations: readonly RotationRecord[], token: TokenRecord, now: Date): ReplacementPath {
  const rotation = findUnfinishedRotation(rotations, token.id);
  if (rotation) {
    const old = tokens.find((t) => t.id === rotation.oldTokenId) ?? token;
    const replacement = tokens.find((t) => t.id === rotation.newTokenId);
    return { kind: 'continue', rotation, role: old.id === token.id ? 'old' : 'new', old, replacement };
  }
  const other = occupant(tokens, token, now);
  return other ? { kind: 'full', other, holders: slotHolders(tokens, token.type) } : { kind: 'replace' };
}

/**
 * The next step for a token that should be replaced (stale, or soon): only what can work. Its rotation, when one is
 * under way (as the old token or the new one); `rotate` when its type has a free slot; otherwise what frees one.
 * `text` is a sentence for a warning; `action` the shorter form a review lists under the finding.
 */
export function replacementAdvice(
  tokens: readonly TokenRecord[],
  rotations: readonly RotationRecord[],
  token: TokenRecord,
  now: Date,
  command: CommandLine = plainCommand,
): { text: string; action: string } {
  const path = replacementPath(tokens, rotations, token, now);
  if (path.kind === 'continue') {
    const { rotation, old, replacement } = path;
    const resume = command(['rotate', old.name, '--resume']);
    const what = path.role === 'old' ? `its replacement '${replacement?.name ?? rotation.newTokenId}' is already under way` : `it is the replacement of '${old.name}'`;
    return { text: `${what} (rotation ${rotation.id}, ${rotation.state}): finish that rotation with: ${resume}`, action: resume };
  }
  if (path.kind === 'replace') {
    const rotate = command(['rotate', token.name]);
    return { text: `replace it safely with: ${rotate}`, action: rotate };
  }
  const { other } = path;
  return {
    text: `its type has no free slot, so rotate cannot replace it yet: ${fullTypeAdvice(other, token, now, command)}`,
    action: `no free ${token.type} slot: ${command(['delete', token.name])} if '${other.name}' replaces it, else ${command(['delete', other.name])} then ${command(['rotate', token.name])}`,
  };
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
