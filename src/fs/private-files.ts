import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { StoreDataError } from '../core/errors.js';
import { fsStep, mapFsError } from './fs-errors.js';

const POSIX = process.platform !== 'win32';

function refuse(message: string): never {
  throw new StoreDataError(message);
}

/** Like ssh with an unprotected key: refuse a symlink, another owner, or group/world access. */
function checkPrivate(p: string, st: import('node:fs').Stats, what: string, dir: boolean): void {
  if (st.isSymbolicLink()) refuse(`${what} ${p} is a symbolic link; refusing to use it. Replace it with a real ${dir ? 'directory' : 'file'}`);
  if (dir ? !st.isDirectory() : !st.isFile()) refuse(`${what} ${p} is not a ${dir ? 'directory' : 'regular file'}`);
  if (!POSIX) return;
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    refuse(`${what} ${p} belongs to another user (uid ${st.uid}); refusing to use it`);
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8);
    refuse(`${what} ${p} is accessible by other users (mode ${mode}); fix it with: chmod ${dir ? '700' : '600'} '${p}'`);
  }
}

async function lstatOrNull(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return mapFsError(error, 'use', p);
  }
}

export interface EnsurePrivateDirOptions {
  /**
   * initdb's rule, for a directory given explicitly (`server init --data`): an existing EMPTY directory that is
   * the user's own, with group/other access, is made 0700 (and this is called to say so) instead of refused.
   * A non-empty one, a symlink, or one owned by someone else is still refused.
   */
  fixEmptyDir?: (message: string) => void;
}

/** Creates the directory (and parents) as 0700 whatever the umask; checks an existing one. */
export async function ensurePrivateDir(dir: string, options: EnsurePrivateDirOptions = {}): Promise<void> {
  const st = await lstatOrNull(dir);
  if (st) {
    if (options.fixEmptyDir && POSIX && st.isDirectory() && (st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) {
      const entries = await fsStep('read the directory', dir, () => fs.readdir(dir));
      if (entries.length === 0) {
        await fsStep('change the permissions of', dir, () => fs.chmod(dir, 0o700));
        options.fixEmptyDir(`fixed the permissions of the existing empty directory ${dir}: mode ${(st.mode & 0o777).toString(8)} -> 700`);
        return;
      }
    }
    return checkPrivate(dir, st, 'directory', true);
  }
  await fsStep('create the directory', dir, async () => {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    if (POSIX) await fs.chmod(dir, 0o700);
  });
}

/** Checks an existing directory is private; returns false when it does not exist. */
export async function checkPrivateDir(dir: string): Promise<boolean> {
  const st = await lstatOrNull(dir);
  if (!st) return false;
  checkPrivate(dir, st, 'directory', true);
  return true;
}

/**
 * Reads a private file without following a symlink; null when it does not exist. The check and the read use
 * the same descriptor (O_NOFOLLOW), so the file cannot be swapped in between.
 */
export async function readPrivateFile(p: string, what: string): Promise<string | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(p, constants.O_RDONLY | (POSIX ? constants.O_NOFOLLOW : 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') refuse(`${what} ${p} is a symbolic link; refusing to use it. Replace it with a real file`);
    return mapFsError(error, `read the ${what}`, p);
  }
  try {
    checkPrivate(p, await fsStep(`read the ${what}`, p, () => handle.stat()), what, false);
    return await fsStep(`read the ${what}`, p, () => handle.readFile('utf8'));
  } finally {
    await handle.close();
  }
}

/**
 * Removes temp files an interrupted write left beside `target` (Ctrl-C, a crash). Only call this while holding
 * the store lock: then no other writer can be using one.
 */
export async function removeLeftoverTemps(target: string): Promise<void> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target)}.tmp-`;
  for (const name of await fsStep('read the directory', dir, () => fs.readdir(dir))) {
    if (name.startsWith(prefix)) await fsStep('remove the leftover temporary file', path.join(dir, name), () => fs.rm(path.join(dir, name), { force: true }));
  }
}

async function fsyncDir(dir: string): Promise<void> {
  if (!POSIX) return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a file atomically: a new 0600 temp file beside it, written and fsynced, renamed over the target,
 * then the directory fsynced so the rename itself survives a crash. Readers see the old or the new file,
 * never half of one.
 */
export async function writeFileAtomic(target: string, data: string, what = 'file'): Promise<void> {
  return fsStep(`write the ${what}`, target, () => writeAtomic(target, data));
}

async function writeAtomic(target: string, data: string): Promise<void> {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.tmp-${process.pid}-${process.hrtime.bigint()}-${Math.random().toString(36).slice(2)}`);
  const handle = await fs.open(tmp, 'wx', 0o600);
  try {
    try {
      if (POSIX) await handle.chmod(0o600);
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, target);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}
