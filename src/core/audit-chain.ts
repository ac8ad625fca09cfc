import { AUDIT_ACTIONS, type AuditEvent } from './audit.js';

/**
 * The audit trail's chain, shared by the local trail (a file) and the token service (SQLite): one JSON line per
 * event, each carrying a MAC over its content and the previous line's MAC, under a key derived from the
 * store's master key. Editing, deleting or reordering a line breaks the chain; the store records the last
 * (seq, mac), so cutting lines off the end is detected too. The MAC function is injected: this stays pure.
 */
export interface ChainHead {
  seq: number;
  mac: string;
}

export interface ChainedLine extends AuditEvent {
  prev: string;
  mac: string;
}

export const GENESIS = 'genesis';

/** The exact text a line's MAC covers: every field but the MAC, in a fixed order. */
export function macInput(e: AuditEvent, prev: string): string {
  return JSON.stringify([e.seq, e.at, e.actor, e.action, e.token, e.fingerprint, e.detail, prev]);
}

export function toLine(e: AuditEvent, prev: string, mac: (t: string) => string): ChainedLine {
  return { ...e, prev, mac: mac(macInput(e, prev)) };
}

export function parseLine(text: string): ChainedLine | null {
  try {
    const o = JSON.parse(text) as ChainedLine;
    if (typeof o !== 'object' || o === null || !Number.isInteger(o.seq) || typeof o.mac !== 'string' || typeof o.prev !== 'string') return null;
    if (!(AUDIT_ACTIONS as readonly string[]).includes(o.action) || typeof o.at !== 'string' || typeof o.actor !== 'string') return null;
    return o;
  } catch {
    return null;
  }
}

export function eventOf(l: ChainedLine): AuditEvent {
  return { seq: l.seq, at: l.at, actor: l.actor, action: l.action, token: l.token, fingerprint: l.fingerprint, detail: l.detail };
}

export type VerifyResult = { ok: true; events: number; lastAt: string | null } | { ok: false; line: number; reason: string };

/** Checks every line's MAC and its link to the one before, then that the store's head is in the chain. */
export function verifyChain(lines: readonly string[], mac: (t: string) => string, head: ChainHead | null, torn = false): VerifyResult {
  let prev = GENESIS;
  let last: ChainedLine | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = parseLine(lines[i]!);
    const n = i + 1;
    if (!line) return { ok: false, line: n, reason: 'not a valid audit event (edited or corrupt)' };
    if (line.seq !== n) return { ok: false, line: n, reason: `sequence number ${line.seq} where ${n} was expected (a line was deleted, inserted or moved)` };
    if (line.prev !== prev) return { ok: false, line: n, reason: 'does not follow the line before it (a line was deleted, inserted or moved)' };
    if (line.mac !== mac(macInput(eventOf(line), line.prev))) return { ok: false, line: n, reason: 'its content does not match its MAC (the line was edited)' };
    prev = line.mac;
    last = line;
  }
  if (head) {
    if (torn && (!last || last.seq < head.seq)) {
      return { ok: false, line: lines.length + 1, reason: 'is incomplete, and the store records it as written (the trail was cut)' };
    }
    if (!last || last.seq < head.seq) {
      return { ok: false, line: lines.length + 1, reason: `the trail ends at event ${last?.seq ?? 0} but the store records event ${head.seq} (lines were cut off the end)` };
    }
    const atHead = parseLine(lines[head.seq - 1]!);
    if (atHead?.mac !== head.mac) return { ok: false, line: head.seq, reason: 'is not the event the store recorded (the trail was replaced)' };
  }
  return { ok: true, events: lines.length, lastAt: last?.at ?? null };
}


/**
 * The lines that append `entries` to a chain whose last line is `head` (null: an empty chain), with the change's
 * time and actor; returns them with the new head. Every store that keeps the chain in rows writes these.
 */
export function chainEntries(
  head: ChainHead | null,
  entries: readonly Pick<AuditEvent, 'action' | 'token' | 'fingerprint' | 'detail'>[],
  change: { at: string; actor: string },
  mac: (t: string) => string,
): { lines: ChainedLine[]; head: ChainHead | null } {
  let prev = head ?? { seq: 0, mac: GENESIS };
  const lines: ChainedLine[] = [];
  for (const entry of entries) {
    const line = toLine({ seq: prev.seq + 1, at: change.at, actor: change.actor, ...entry }, prev.mac, mac);
    lines.push(line);
    prev = { seq: line.seq, mac: line.mac };
  }
  return { lines, head: lines.length > 0 ? prev : head };
}
