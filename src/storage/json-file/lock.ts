import { promises as fs } from 'node:fs';
import { BackendUnavailableError } from '../../core/errors.js';
import { mapFsError } from '../../fs/fs-errors.js';
import { currentProcess, holderState } from '../../fs/process-identity.js';

/**
 * A cross-process lock: a file created with O_EXCL holding the owner's pid, host, process start time and a
 * nonce. On the same host the holder is judged by its identity: a holder that is gone, or whose pid now belongs to
 * a process started at another time (pid reuse after a crash), left a stale lock, broken at once; a running
 * holder is waited for (up to timeoutMs), never robbed. Where the holder cannot be identified (another host on a
 * shared disk, no /proc, a lock from an older tokenctl) a lock older than staleMs is stale; staleMs is shorter
 * than the wait, so a waiter always outlasts a dead holder's lock instead of giving up first. A stale lock is
 * broken by renaming it aside first, so two processes can never both "break" and then both hold it. The owner
 * re-checks its nonce before it commits (assertHeld), which catches the rare case of a lock broken while in use.
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
  /** The holder's process start time (see fs/process-identity.ts); absent in locks of older versions. */
  started?: string | null;
  nonce: string;
  at: number;
}

/** How long a command waits for the lock. */
export const DEFAULT_TIMEOUT_MS = 20_000;
/** The age after which a lock whose holder cannot be identified is stale: well within the wait. */
export const DEFAULT_STALE_MS = 10_000;

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
    return mapFsError(error, 'read the lock of the token store', lockPath);
  }
}

function isStale(found: { info: LockInfo | null; mtimeMs: number }, staleMs: number, now: number): boolean {
  const { info } = found;
  // A lock file still being written has no parsable content yet; give it a moment.
  if (!info || typeof info.pid !== 'number' || typeof info.host !== 'string') return now - found.mtimeMs > 2_000;
  const state = holderState(info);
  if (state === 'gone') return true;
  if (state === 'running') return false;
  return now - (typeof info.at === 'number' ? info.at : found.mtimeMs) > staleMs;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function acquireLock(lockPath: string, options: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = Math.min(options.staleMs ?? DEFAULT_STALE_MS, timeoutMs);
  const me = currentProcess();
  // Unique, not secret: no need to load crypto on this path.
  const nonce = `${process.pid}.${process.hrtime.bigint()}.${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const handle = await fs.open(lockPath, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify({ pid: me.pid, host: me.host, started: me.started, nonce, at: Date.now() } satisfies LockInfo));
      } catch (error) {
        // A lock we could not write (disk full) must not stay behind, empty, for others to wait on.
        await handle.close().catch(() => undefined);
        await fs.rm(lockPath, { force: true }).catch(() => undefined);
        return mapFsError(error, 'write the lock of the token store', lockPath);
      }
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return mapFsError(error, 'lock the token store', lockPath);
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
      const owner = found?.info ? ` by process ${found.info.pid}${found.info.host === me.host ? '' : ` on ${found.info.host}`}` : '';
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
