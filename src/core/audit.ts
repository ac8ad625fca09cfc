import { activeFromCreation, ageDays, deletedWhilePending, POLICY, tokenStatus, type TokenRecord, type TokenType } from './tokens.js';
import { formatInstant, plainCommand, type CommandLine } from './format.js';
import { isUnfinished, replacementAdvice, type RotationRecord } from './rotation.js';
import { callerText, drainingUseLine, drainingUseOf, usedWhileDraining, type TokenUsage } from './usage.js';

/** An entry of the audit trail: who did what to which token, when. Never a value: only its fingerprint. */
export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  action: AuditAction;
  token: { id: string; name: string; type: TokenType } | null;
  /** Keyed fingerprint (HMAC) of the value involved, when one is. */
  fingerprint: string | null;
  detail: Record<string, string> | null;
}

export const AUDIT_ACTIONS = [
  'account.init',
  'account.signing-key',
  'token.create',
  'token.reveal',
  'token.rename',
  'token.delete',
  'rotation.start',
  'rotation.deliver',
  'rotation.complete',
  'rotation.abandon',
  'webhook.add',
  'webhook.remove',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What a change asks the trail to record; the backend adds seq, time, actor and the chain. */
export type AuditEntry = Pick<AuditEvent, 'action' | 'token' | 'fingerprint' | 'detail'>;

export function tokenRef(t: TokenRecord): AuditEvent['token'] {
  return { id: t.id, name: t.name, type: t.type };
}

/**
 * The entries every store records, built in one place so that the local trail and the service's say the same
 * thing about the same change (the security review reads them: see reviewTokens).
 */
type Fingerprinted = TokenRecord & { fingerprint: string };

export const auditEntries = {
  accountInit: (account: { id: string; name: string }): AuditEntry => ({ action: 'account.init', token: null, fingerprint: null, detail: { account: account.id, name: account.name } }),
  /** A new signing key for the account's new API tokens (the operator chose another algorithm). */
  signingKeyAdded: (key: { kid: string; alg: string }, previous: { kid: string; alg: string }): AuditEntry => ({
    action: 'account.signing-key',
    token: null,
    fingerprint: null,
    detail: { kid: key.kid, alg: key.alg, previousKid: previous.kid, previousAlg: previous.alg },
  }),
  /** `delivered`: the value is handed out now (create prints it); init's default token and rotations' are not. */
  tokenCreated: (t: Fingerprinted, delivered: boolean): AuditEntry => ({ action: 'token.create', token: tokenRef(t), fingerprint: t.fingerprint, detail: { delivered: delivered ? 'yes' : 'no' } }),
  tokenRevealed: (t: Fingerprinted): AuditEntry => ({ action: 'token.reveal', token: tokenRef(t), fingerprint: t.fingerprint, detail: null }),
  tokenRenamed: (t: TokenRecord, from: string): AuditEntry => ({ action: 'token.rename', token: tokenRef(t), fingerprint: null, detail: { from, to: t.name } }),
  tokenDeleted: (t: Fingerprinted): AuditEntry => ({ action: 'token.delete', token: tokenRef(t), fingerprint: t.fingerprint, detail: null }),
  rotationStarted: (old: TokenRecord, r: RotationRecord): AuditEntry => ({ action: 'rotation.start', token: tokenRef(old), fingerprint: null, detail: { rotation: r.id, replacement: r.newTokenId } }),
  rotationDelivered: (replacement: Fingerprinted | null, r: RotationRecord, via: 'stdout' | 'exec'): AuditEntry => ({
    action: 'rotation.deliver',
    token: replacement ? tokenRef(replacement) : null,
    fingerprint: replacement?.fingerprint ?? null,
    detail: { rotation: r.id, via },
  }),
  rotationCompleted: (old: TokenRecord, r: RotationRecord): AuditEntry => ({ action: 'rotation.complete', token: tokenRef(old), fingerprint: null, detail: { rotation: r.id, replacement: r.newTokenId } }),
  rotationAbandoned: (old: TokenRecord | null, r: RotationRecord, reason: string): AuditEntry => ({ action: 'rotation.abandon', token: old ? tokenRef(old) : null, fingerprint: null, detail: { rotation: r.id, reason } }),
  /** `destination`: the URL without its query (a receiver's own secret may be there). */
  webhookAdded: (id: string, destination: string): AuditEntry => ({ action: 'webhook.add', token: null, fingerprint: null, detail: { endpoint: id, url: destination } }),
  webhookRemoved: (id: string, destination: string): AuditEntry => ({ action: 'webhook.remove', token: null, fingerprint: null, detail: { endpoint: id, url: destination } }),
};

// ---- the security review ----------------------------------------------------------------------------

export type Severity = 'critical' | 'warning' | 'info';
export type FindingKind = 'draining-in-use' | 'stale' | 'rotation-unfinished' | 'soon-stale' | 'pending' | 'draining' | 'never-retrieved';

export interface Finding {
  severity: Severity;
  kind: FindingKind;
  tokenId: string;
  name: string;
  type: TokenType;
  ageDays: number;
  /** When the token turns (or turned) stale under the review's policy. */
  staleAt: string | null;
  message: string;
  action: string;
}

export interface AuditOptions {
  asOf: Date;
  maxAgeDays: number;
  withinDays: number;
  /** Writes the commands the findings name (the CLI's knows the profile and npx); default `tokenctl ...`. */
  command?: CommandLine;
  /**
   * The tokens' usage by id, where the store sees calls (the token service): a deleted token still presented during
   * its drain is a `draining-in-use` finding. Absent: not known (a local store).
   */
  usage?: ReadonlyMap<string, TokenUsage> | null;
}

export interface AuditReport {
  asOf: string;
  maxAgeDays: number;
  withinDays: number;
  liveTokens: number;
  stale: number;
  /** Deleted tokens still presented during their drain (systems that will fail when it ends): fail the gate like stale ones. */
  drainingInUse: number;
  verdict: string;
  ok: boolean;
  findings: Finding[];
}

const DAY = POLICY.dayMs;
const RANK: Record<FindingKind, number> = { 'draining-in-use': 0, stale: 1, 'rotation-unfinished': 2, 'soon-stale': 3, pending: 4, draining: 5, 'never-retrieved': 6 };

/**
 * Reviews an account at `asOf`: stale and soon-stale tokens, pending and draining ones, unfinished
 * rotations, and tokens never retrieved (known from the trail). Sorted by urgency. Pure.
 */
export function reviewTokens(
  tokens: readonly TokenRecord[],
  rotations: readonly RotationRecord[],
  events: readonly AuditEvent[] | null,
  o: AuditOptions,
): AuditReport {
  const at = o.asOf.getTime();
  // A review "as of" a date sees the account as it was then: tokens created later do not exist yet, and
  // tokens deleted later were still live.
  const existing = tokens.filter((t) => Date.parse(t.createdAt) <= at);
  const liveAt = (t: TokenRecord) => t.deletedAt === null || Date.parse(t.deletedAt) > at;
  const live = existing.filter(liveAt);
  const findings: Finding[] = [];
  const base = (t: TokenRecord) => {
    const staleAt = new Date(Date.parse(t.createdAt) + o.maxAgeDays * DAY);
    return { tokenId: t.id, name: t.name, type: t.type, ageDays: ageDays(t, o.asOf), staleAt: staleAt.toISOString(), staleMs: staleAt.getTime() };
  };
  // A value reaches someone when it is printed at creation, retrieved, or delivered by a rotation.
  const handedOut = (e: AuditEvent) =>
    e.action === 'token.reveal' || e.action === 'rotation.deliver' || (e.action === 'token.create' && e.detail?.delivered === 'yes');
  const retrieved = events ? new Set(events.filter((e) => e.token && handedOut(e)).map((e) => e.token!.id)) : null;

  const command = o.command ?? plainCommand;
  // What replaces a token: its rotation under way, `rotate`, or what frees a slot of its type (never what cannot work).
  const replace = (t: TokenRecord) => replacementAdvice(live, rotations, t, o.asOf, command).action;
  for (const t of live) {
    const b = base(t);
    const { staleMs, ...rest } = b;
    if (at >= staleMs) {
      findings.push({ ...rest, severity: 'critical', kind: 'stale', message: `${b.ageDays} days old (limit ${o.maxAgeDays})`, action: replace(t) });
    } else if (at >= staleMs - o.withinDays * DAY) {
      const left = Math.ceil((staleMs - at) / DAY);
      findings.push({ ...rest, severity: 'warning', kind: 'soon-stale', message: `turns stale in ${left} day${left === 1 ? '' : 's'}`, action: replace(t) });
    }
    if (!activeFromCreation(t) && at < Date.parse(t.activatesAt)) {
      findings.push({ ...rest, severity: 'info', kind: 'pending', message: `pending until ${formatInstant(t.activatesAt)}`, action: 'put it in place before it activates' });
    }
    if (retrieved && !retrieved.has(t.id) && t.lastUsedAt === null) {
      findings.push({ ...rest, severity: 'info', kind: 'never-retrieved', message: 'its value was never handed out (not shown, retrieved or delivered) and it was never seen in use', action: `check whether it is needed; if not: ${command(['delete', t.name])}` });
    }
  }
  for (const t of existing) {
    if (!liveAt(t) && tokenStatus(t, o.asOf) === 'draining') {
      const { staleMs: _, ...rest } = base(t);
      const usage = o.usage?.get(t.id);
      // The drain watch: still presented while draining, so something that depends on it fails when the drain ends.
      if (usedWhileDraining(t, usage, o.asOf)) {
        const callers = drainingUseOf(usage!)!.callers.map(callerText).filter(Boolean);
        findings.push({
          ...rest,
          severity: 'critical',
          kind: 'draining-in-use',
          message: drainingUseLine(t, usage, o.asOf)!.replace(/^Still presented while draining: /, 'deleted, but still presented while draining: '),
          action: `put its replacement in place in ${callers.length > 0 ? callers.slice(0, 3).join(', ') : 'what still uses it'} before it is rejected`,
        });
        continue;
      }
      const message = deletedWhilePending(t)
        ? 'deleted while pending; it never becomes active'
        : `deleted; calls are rejected from ${formatInstant(new Date(Date.parse(t.deletedAt!) + POLICY.drainMs).toISOString())}`;
      findings.push({ ...rest, severity: 'info', kind: 'draining', message, action: 'none' });
    }
  }
  for (const r of rotations.filter(isUnfinished)) {
    const old = tokens.find((t) => t.id === r.oldTokenId);
    if (!old) continue;
    const { staleMs: _, ...rest } = base(old);
    findings.push({ ...rest, severity: 'warning', kind: 'rotation-unfinished', message: `rotation ${r.id} stopped at '${r.state}'`, action: command(['rotate', old.name, '--resume']) });
  }
  findings.sort((a, b) => RANK[a.kind] - RANK[b.kind] || b.ageDays - a.ageDays || a.name.localeCompare(b.name));

  const stale = findings.filter((f) => f.kind === 'stale').length;
  const drainingInUse = findings.filter((f) => f.kind === 'draining-in-use').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  const failures = [
    ...(drainingInUse > 0 ? [`${drainingInUse} deleted token${drainingInUse === 1 ? '' : 's'} still in use while draining (calls fail when the drain ends)`] : []),
    ...(stale > 0 ? [`${stale} stale token${stale === 1 ? '' : 's'} (older than ${o.maxAgeDays} days)`] : []),
  ];
  const next = [...(drainingInUse > 0 ? ['switch what still uses the deleted token'] : []), ...(stale > 0 ? [`rotate ${stale === 1 ? 'it' : 'them'} now`] : [])].join(', and ');
  const verdict =
    failures.length > 0
      ? `FAIL: ${failures.join(', ')}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}; ${next}`
      : warnings > 0
        ? `WARN: no stale tokens, ${warnings} warning${warnings === 1 ? '' : 's'}`
        : `OK: no stale tokens among ${live.length} live token${live.length === 1 ? '' : 's'}`;
  return {
    asOf: o.asOf.toISOString(),
    maxAgeDays: o.maxAgeDays,
    withinDays: o.withinDays,
    liveTokens: live.length,
    stale,
    drainingInUse,
    verdict,
    ok: failures.length === 0,
    findings,
  };
}
