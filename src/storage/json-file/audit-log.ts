import { constants, promises as fs } from 'node:fs';
import { StoreDataError } from '../../core/errors.js';
import { fsStep, mapFsError } from '../../fs/fs-errors.js';
import { readPrivateFile } from '../../fs/private-files.js';
import type { AuditEntry, AuditEvent } from '../../core/audit.js';
import { eventOf, GENESIS, macInput, parseLine, toLine, verifyChain, type ChainHead, type VerifyResult } from '../../core/audit-chain.js';

export type { ChainHead, VerifyResult };

// The local audit trail: the chain of core/audit-chain.ts in an append-only file beside the store.

/**
 * The trail as written. A last piece without its newline that is not a whole event is a torn write (power
 * cut, full disk): the change it belonged to was refused, since the store is written only after the trail.
 */
interface Trail {
  lines: string[];
  /** Bytes of the whole lines, each with its newline. */
  wholeBytes: number;
  torn: boolean;
  /** The last line is whole but lost its newline: the next append starts with one. */
  missingNewline: boolean;
}

async function readTrail(logPath: string): Promise<Trail> {
  // The same checks as the store: no symlink, the user's own, not readable by others.
  const text = (await readPrivateFile(logPath, 'audit trail')) ?? '';
  const pieces = text.split('\n');
  const last = pieces.pop()!; // '' when the text ends with a newline
  const lines = pieces;
  let torn = false;
  let missingNewline = false;
  if (last !== '') {
    if (parseLine(last)) {
      lines.push(last);
      missingNewline = true;
    } else torn = true;
  }
  const wholeBytes = Buffer.byteLength(pieces.slice(0, missingNewline ? -1 : undefined).map((l) => `${l}\n`).join(''));
  return { lines, wholeBytes, torn, missingNewline };
}

export async function readAuditEvents(logPath: string): Promise<AuditEvent[]> {
  const { lines } = await readTrail(logPath);
  return lines.map((text, i) => {
    const line = parseLine(text);
    if (!line) throw new StoreDataError(`the audit trail ${logPath} has an unreadable line ${i + 1}; check it with: tokenctl log --verify`);
    return eventOf(line);
  });
}

export async function verifyAuditLog(logPath: string, mac: (t: string) => string, head: ChainHead | null): Promise<VerifyResult> {
  const trail = await readTrail(logPath);
  return verifyChain(trail.lines, mac, head, trail.torn);
}

/**
 * Appends events (fsynced) and returns the new head. Called under the store lock BEFORE the store is written:
 * if the trail cannot be written, the change is refused (fail closed).
 */
export async function appendAuditEvents(
  logPath: string,
  head: ChainHead | null,
  entries: readonly AuditEntry[],
  ctx: { mac: (t: string) => string; at: string; actor: string },
): Promise<ChainHead | null> {
  if (entries.length === 0) return head;
  const trail = await readTrail(logPath);
  const lines = trail.lines;
  // Continue from the real end of the trail: a crash between appending and writing the store leaves
  // authentic events after the store's head; they stay. A trail shorter than the head was cut: refuse.
  let tail: ChainHead | null = null;
  if (lines.length > 0) {
    const last = parseLine(lines.at(-1)!);
    if (!last || last.seq !== lines.length || last.mac !== ctx.mac(macInput(eventOf(last), last.prev))) {
      throw new StoreDataError(`the audit trail ${logPath} is damaged at its last line; nothing was changed. Check it with: tokenctl log --verify`);
    }
    tail = { seq: last.seq, mac: last.mac };
  }
  if ((head?.seq ?? 0) > (tail?.seq ?? 0) || (head && parseLine(lines[head.seq - 1]!)?.mac !== head.mac)) {
    throw new StoreDataError(`the audit trail ${logPath} does not match the store (cut, deleted or replaced); nothing was changed. Check it with: tokenctl log --verify`);
  }
  if (trail.torn) {
    // The torn piece was never part of a committed change (checked above: the store's head is before it).
    await fsStep('repair the audit trail', logPath, () => fs.truncate(logPath, trail.wholeBytes));
  }
  let prev = tail?.mac ?? GENESIS;
  let seq = tail?.seq ?? 0;
  let text = trail.missingNewline ? '\n' : '';
  for (const entry of entries) {
    seq += 1;
    const line = toLine({ seq, at: ctx.at, actor: ctx.actor, ...entry }, prev, ctx.mac);
    text += JSON.stringify(line) + '\n';
    prev = line.mac;
  }
  try {
    const handle = await fs.open(logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (process.platform === 'win32' ? 0 : constants.O_NOFOLLOW), 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    // Every change must be recorded: one that cannot be is refused, with the reason and the fix.
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new StoreDataError(`the audit trail ${logPath} is a symbolic link; refusing to use it. Replace it with a real file. Nothing was changed`, { cause: error });
    }
    return mapFsError(error, 'write the audit trail', logPath);
  }
  return { seq, mac: prev };
}
