import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who holds a lock file: pid, host and the process's start time. A pid alone is not an identity: after a crash
 * the kernel may give the same pid to another process, which would keep a dead holder's lock looking alive.
 * Used by the local store's lock and by `serve`'s data-directory lock.
 */
export interface ProcessIdentity {
  pid: number;
  host: string;
  /** The process's start time as the kernel counts it (Linux /proc); null where it cannot be read. */
  started: string | null;
}

/** Field 22 (starttime) of /proc/<pid>/stat, in clock ticks since boot; null where there is no /proc. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Counted after the parenthesised command name, which may itself contain spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let mine: ProcessIdentity | undefined;

/** This process. */
export function currentProcess(): ProcessIdentity {
  return (mine ??= { pid: process.pid, host: hostname(), started: processStartTime(process.pid) });
}

/**
 * Whether the recorded holder is still running: 'running', 'gone' (no such process, or its pid now belongs to a
 * process started at another time), or 'unknown' (another host, or no start time to compare: a lock from a
 * system without /proc or from an older tokenctl), where the caller falls back to the lock's age.
 */
export function holderState(o: { pid: number; host: string; started?: string | null }): 'running' | 'gone' | 'unknown' {
  if (o.host !== hostname()) return 'unknown';
  if (!pidExists(o.pid)) return 'gone';
  if (o.started === undefined || o.started === null) return 'unknown';
  const now = processStartTime(o.pid);
  if (now === null) return 'unknown';
  return now === o.started ? 'running' : 'gone';
}
