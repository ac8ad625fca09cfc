import path from 'node:path';
import { StoreDataError, TokenctlError } from '../core/errors.js';

/**
 * The one mapping of filesystem failures to what the user sees: every place that writes, locks or reads
 * tokenctl's own files (store, lock, audit trail, key files, profile config, the service's data directory) goes
 * through it, so a home the user cannot write, a full or read-only disk, a file where a directory should be or a
 * symlink loop ends as ONE line naming the path and the fix (exit 9), never as an internal error.
 */
const FS_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'ELOOP', 'EISDIR', 'ENAMETOOLONG', 'EIO', 'EMFILE', 'ENFILE', 'EEXIST', 'ENOENT', 'EBUSY', 'ETXTBSY', 'EFBIG', 'EXDEV']);

export function fsErrorCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && FS_CODES.has(code) ? code : undefined;
}

/** The message for one failure: `action` is what was tried ("write the token store"), `p` the path concerned. */
export function fsErrorMessage(code: string, action: string, p: string): string {
  const dir = path.dirname(p);
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `cannot ${action} ${p}: permission denied; make ${dir} writable by you (e.g. chmod u+rwx '${dir}'), or set TOKENCTL_HOME to a directory you own. Nothing was changed`;
    case 'EROFS':
      return `cannot ${action} ${p}: the file system is read-only; set TOKENCTL_HOME to a writable directory. Nothing was changed`;
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return `cannot ${action} ${p}: no space left on the device (or the disk quota is used up); free some space and try again. Nothing was changed`;
    case 'ENOTDIR':
      return `cannot ${action} ${p}: a part of that path is a file, not a directory; move the file away or set TOKENCTL_HOME elsewhere. Nothing was changed`;
    case 'ELOOP':
      return `cannot ${action} ${p}: too many levels of symbolic links (a link loop?); replace the link with a real directory. Nothing was changed`;
    case 'EISDIR':
      return `cannot ${action} ${p}: it is a directory where a file should be; move it away. Nothing was changed`;
    case 'ENAMETOOLONG':
      return `cannot ${action} ${p}: the path is too long; set TOKENCTL_HOME to a shorter path. Nothing was changed`;
    case 'EMFILE':
    case 'ENFILE':
      return `cannot ${action} ${p}: too many open files on this system; close some programs and try again. Nothing was changed`;
    case 'EIO':
      return `cannot ${action} ${p}: input/output error; check the disk (dmesg), then try again. Nothing was changed`;
    case 'ENOENT':
      return `cannot ${action} ${p}: a directory of that path is missing or was removed meanwhile; try again. Nothing was changed`;
    default:
      return `cannot ${action} ${p} (${code}); check that path, then try again. Nothing was changed`;
  }
}

/**
 * Turns a filesystem error into the user's one line (a data error, exit 9). Typed errors pass through; anything
 * that is not a filesystem error is rethrown as it is (a bug stays a bug).
 */
export function mapFsError(error: unknown, action: string, p: string): never {
  if (error instanceof TokenctlError) throw error;
  const code = fsErrorCode(error);
  if (!code) throw error;
  // Our path, not Node's: that may be a temporary file beside the target, which means nothing to the user.
  throw new StoreDataError(fsErrorMessage(code, action, p), { cause: error });
}

/** Runs one filesystem step, mapping its failure (see mapFsError). */
export async function fsStep<T>(action: string, p: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    return mapFsError(error, action, p);
  }
}
