import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BackendUnavailableError } from '../core/errors.js';
import { mapFsError } from '../fs/fs-errors.js';
import { currentProcess, holderState, type ProcessIdentity } from '../fs/process-identity.js';

/**
 * One `tokenctl serve` per SQLite data directory: a second one on the same directory would share the database's
 * write lock and its last-used times with the first, with no way to tell clients which one answers. The lock is a
 * file holding the owner's pid, host and process start time; a lock whose process is gone, or whose pid now
 * belongs to another process (started at another time), is stale and replaced. Several replicas are what the
 * PostgreSQL storage is for.
 */
export const SERVE_LOCK_FILE = 'serve.lock';

interface Owner extends ProcessIdentity {
  at: string;
}

/** Whether the recorded owner is still the process that wrote the lock (another host: cannot tell, so assume so). */
function ownerIsRunning(o: Owner): boolean {
  return holderState(o) !== 'gone';
}

export interface ServeLock {
  release(): Promise<void>;
}

export async function lockDataDir(dir: string, now: () => Date = () => new Date()): Promise<ServeLock> {
  const file = path.join(dir, SERVE_LOCK_FILE);
  const me: Owner = { ...currentProcess(), at: now().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(me) + '\n');
      } finally {
        await handle.close();
      }
      return {
        release: async () => {
          // Only our own lock: one replaced as stale by someone else is theirs now.
          const text = await readFile(file, 'utf8').catch(() => '');
          if (text.includes(`"pid":${me.pid},`) && text.includes(me.at)) await unlink(file).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return mapFsError(error, 'lock the data directory with', file);
    }
    let owner: Owner | null = null;
    try {
      owner = JSON.parse(await readFile(file, 'utf8')) as Owner;
    } catch {
      owner = null; // being written, or garbage: judged on the next attempt
    }
    if (owner && ownerIsRunning(owner)) {
      throw new BackendUnavailableError(
        `another tokenctl serve (pid ${owner.pid} on ${owner.host}, since ${owner.at}) is using the data directory ${dir}; stop it first. Several replicas need PostgreSQL (TOKENCTL_DATABASE_URL)`,
      );
    }
    if (owner || attempt > 0) await rename(file, `${file}.stale-${process.pid}`).then(() => unlink(`${file}.stale-${process.pid}`)).catch(() => undefined);
    else await new Promise((r) => setTimeout(r, 100));
  }
  throw new BackendUnavailableError(`cannot take the lock ${file} of the data directory; remove it if no tokenctl serve is running`);
}
