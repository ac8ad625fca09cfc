import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TokenctlError, UsageError } from '../core/errors.js';
import { safeText } from '../ui/sanitize.js';

type Env = Record<string, string | undefined>;

export function isGitHubActions(env: Env): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/**
 * `::add-mask::<value>` with the workflow-command escaping of the runner (% CR LF), so a value can never end
 * the command early and leak its tail into the log.
 */
export function githubAddMaskCommand(value: string): string {
  const escaped = value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return `::add-mask::${escaped}\n`;
}

/**
 * Writes a secret to a file that did not exist before (O_EXCL), readable by the owner only, and never through
 * a symlink (O_NOFOLLOW; O_EXCL alone already refuses any existing name, dangling links included). Returns the
 * path as shown to the user.
 */
export async function writeSecretFile(target: string, value: string): Promise<string> {
  if (target.trim() === '') throw new UsageError('--output-file needs a path');
  const shown = safeText(target);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
  let handle;
  try {
    handle = await open(path.resolve(target), flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') {
      throw new UsageError(`${shown} already exists (or is a symlink); --output-file only creates a new file. Remove it or pick another path`);
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`cannot create ${shown}: its directory does not exist`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new TokenctlError('permission', `cannot create ${shown}: permission denied`);
    throw new UsageError(`cannot create ${shown} (${code ?? 'error'})`);
  }
  try {
    // umask can only remove bits; chmod anyway in case the file system ignores the mode on create.
    await handle.chmod(0o600);
    await handle.writeFile(value, 'utf8');
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path.resolve(target)).catch(() => undefined); // never leave half a secret behind
    throw error;
  }
  return shown;
}
