import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { BackendUnavailableError } from '../../core/errors.js';

/**
 * A cross-process lock: a file created with O_EXCL holding the owner's pid, host and a nonce. A lock whose
 * owner died (same host, pid gone) or that is older than STALE_MS is broken by renaming it aside first, so
 * two processes can never both "break" and then both hold it. The owner re-checks its nonce before it
 * commits (assertHeld), which catches the rare case of a lock broken while still in use.
 */
export interface LockOptions {
  timeoutMs?: number;
  staleMs?: number;
}

export interface HeldLock {
  assertHeld(): Promise<void>;
  release(): Promise<void>;
}

interface LockInfo {
  pid: number;
  host: string;
  nonce: string;
  at: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_STALE_MS = 30_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readInfo(lockPath: string): Promise<{ info: LockInfo | null; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([fs.readFile(lockPath, 'utf8'), fs.stat(lockPath)]);
    try {
      return { info: JSON.parse(text) as LockInfo, mtimeMs: st.mtimeMs };
    } catch {
      return { info: null, mtimeMs: st.mtimeMs };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function isStale(found: { info: LockInfo | null; mtimeMs: number }, staleMs: number, now: number): boolean {
  const { info } = found;
  // A lock file still being written has no parsable content yet; give it a moment.
  if (!info) return now - found.mtimeMs > 2_000;
  if (info.host === hostname() && !isAlive(info.pid)) return true;
  return now - info.at > staleMs;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  // Unique, not secret: no need to load crypto on this path.
  const nonce = `${process.pid}.${process.hrtime.bigint()}.${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const handle = await fs.open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), nonce, at: Date.now() } satisfies LockInfo));
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const found = await readInfo(lockPath);
    if (found && isStale(found, staleMs, Date.now())) {
      const aside = `${lockPath}.stale-${nonce}`;
      try {
        await fs.rename(lockPath, aside);
        const moved = await readInfo(aside);
        // Only discard what we judged stale; a fresh lock renamed by mistake is put back if nobody took its place.
        if (moved && moved.info?.nonce !== found.info?.nonce) await fs.link(aside, lockPath).catch(() => undefined);
        await fs.rm(aside, { force: true });
      } catch {
        // Somebody else broke it first; just retry.
      }
      continue;
    }
    if (Date.now() > deadline) {
      const owner = found?.info ? ` by process ${found.info.pid}` : '';
      throw new BackendUnavailableError(
        `the token store is locked${owner}; wait for the other tokenctl command to finish, or remove ${lockPath} if none is running`,
      );
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
  return {
    async assertHeld() {
      const found = await readInfo(lockPath);
      if (found?.info?.nonce !== nonce) {
        throw new BackendUnavailableError('lost the lock on the token store to another process; nothing was written, try again');
      }
    },
    async release() {
      const found = await readInfo(lockPath).catch(() => null);
      if (found?.info?.nonce === nonce) await fs.rm(lockPath, { force: true });
    },
  };
}
