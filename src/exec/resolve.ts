import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export type ResolvedCommand =
  | { ok: true; file: string }
  | { ok: false; why: 'command not found' | 'no such file' | 'is a directory' | 'not executable (permission denied)'; code: 126 | 127 };

type Env = Record<string, string | undefined>;

/** What a file is for running it: an executable regular file, a directory, a file without the executable bit, nothing. */
function kindOf(file: string): 'runnable' | 'directory' | 'not-executable' | 'missing' {
  try {
    if (statSync(file).isDirectory()) return 'directory';
  } catch {
    return 'missing';
  }
  try {
    accessSync(file, constants.X_OK);
    return 'runnable';
  } catch {
    return 'not-executable';
  }
}

/**
 * The file a command would run from, found as execvp (and spawn, given the same PATH) finds it: a name with a slash
 * is that path; any other name is the first executable regular file of that name in PATH's directories (an empty
 * entry is the working directory). Asked before anything is retrieved, so that a command that cannot start leaves no
 * trace: no value retrieved, nothing recorded. Exit codes as a shell's: 127 not found, 126 found but not runnable.
 * On Windows (PATHEXT, no executable bit) the command is left to the system to find.
 */
export function resolveCommand(command: string, env: Env, cwd: string = process.cwd(), platform: NodeJS.Platform = process.platform): ResolvedCommand {
  if (platform === 'win32') return { ok: true, file: command };
  if (command.includes('/')) {
    const file = path.resolve(cwd, command);
    const kind = kindOf(file);
    if (kind === 'runnable') return { ok: true, file };
    if (kind === 'missing') return { ok: false, why: 'no such file', code: 127 };
    return { ok: false, why: kind === 'directory' ? 'is a directory' : 'not executable (permission denied)', code: 126 };
  }
  let blocked = false;
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(':')) {
    const file = path.resolve(cwd, dir === '' ? '.' : dir, command);
    const kind = kindOf(file);
    if (kind === 'runnable') return { ok: true, file };
    if (kind === 'not-executable') blocked = true;
  }
  // As a shell: a file of that name that may not be run is "permission denied", else "not found".
  return blocked ? { ok: false, why: 'not executable (permission denied)', code: 126 } : { ok: false, why: 'command not found', code: 127 };
}
