import { execFile } from 'node:child_process';
import { childEnvironment } from '../secrets/child-env.js';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../core/errors.js';
import { safeText } from '../ui/sanitize.js';

const run = promisify(execFile);

/** One text to scan: where it came from (as shown to the user) and its content. */
export interface ScanInput {
  file: string;
  text: string;
}

export interface ScanSourceHooks {
  /** A file that was skipped for a reason worth telling (unreadable, too large). */
  skipped(file: string, why: string): void;
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);
/** Files larger than this are skipped with a note: tokens hide in source and config, not in disk images. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
const BINARY_SNIFF_BYTES = 8000;

/** Git's own heuristic: a NUL byte near the start means binary. */
export function isBinary(content: Buffer): boolean {
  return content.subarray(0, BINARY_SNIFF_BYTES).includes(0);
}

function shown(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

async function readCandidate(file: string, hooks: ScanSourceHooks, label: string): Promise<ScanInput | null> {
  let content: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_FILE_BYTES) {
        hooks.skipped(label, `larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`);
        return null;
      }
      content = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    hooks.skipped(label, `unreadable (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return null;
  }
  if (isBinary(content)) return null;
  return { file: label, text: content.toString('utf8') };
}

/**
 * Files under the given paths, directories recursed (skipping .git and node_modules, never following a
 * symlink inside a tree), binary files skipped. A path named on the command line is followed if it is a link.
 */
export async function* filesUnder(paths: readonly string[], cwd: string, hooks: ScanSourceHooks): AsyncGenerator<ScanInput> {
  for (const given of paths) {
    const abs = path.resolve(cwd, given);
    let info;
    try {
      info = await stat(abs);
    } catch {
      throw new UsageError(`${safeText(given)}: no such file or directory`);
    }
    if (info.isFile()) {
      const input = await readCandidate(abs, hooks, shown(abs, cwd));
      if (input) yield input;
    } else if (info.isDirectory()) {
      yield* walk(abs, cwd, hooks);
    }
  }
}

async function* walk(dir: string, cwd: string, hooks: ScanSourceHooks): AsyncGenerator<ScanInput> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    hooks.skipped(shown(dir, cwd), `unreadable directory (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* walk(full, cwd, hooks);
    } else if (entry.isFile()) {
      const input = await readCandidate(full, hooks, shown(full, cwd));
      if (input) yield input;
    }
    // Symbolic links inside a tree are not followed (loops, and files outside what was asked for).
  }
}

async function git(args: string[], cwd: string, maxBuffer = MAX_FILE_BYTES * 2): Promise<Buffer> {
  try {
    // git (and hooks it runs, e.g. core.fsmonitor) never sees tokenctl's credentials.
    const { stdout } = await run('git', args, { cwd, env: childEnvironment(process.env, {}), encoding: 'buffer', maxBuffer, windowsHide: true });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new UsageError('--staged needs git, and git was not found on PATH');
    const detail = e.stderr ? (e.stderr.toString('utf8').trim().split('\n')[0] ?? '') : '';
    if (/not a git repository/i.test(detail)) throw new UsageError('--staged needs a git repository; run it inside one (e.g. from a pre-commit hook)');
    throw new UsageError(`git ${args[0]} failed: ${safeText(detail.slice(0, 200))}`);
  }
}

/**
 * The staged content of every added, copied, modified or renamed file (what the commit would contain, which
 * may differ from the working tree), read from the index: `git diff --cached --name-only -z` then
 * `git show :<path>`. Paths, when given, limit the scan as git pathspecs.
 */
export async function* stagedFiles(pathspecs: readonly string[], cwd: string, hooks: ScanSourceHooks): AsyncGenerator<ScanInput> {
  const top = (await git(['rev-parse', '--show-toplevel'], cwd)).toString('utf8').trim();
  const names = (await git(['diff', '--cached', '--name-only', '-z', '--diff-filter=ACMR', '--', ...pathspecs], cwd))
    .toString('utf8')
    .split('\0')
    .filter((n) => n !== '');
  for (const name of names) {
    let content: Buffer;
    try {
      // Paths from `git diff` are relative to the top; `:<path>` resolves relative to the top too.
      content = await git(['show', '--no-textconv', `:${name}`], top);
    } catch {
      hooks.skipped(name, 'not readable from the index');
      continue;
    }
    if (content.length > MAX_FILE_BYTES) {
      hooks.skipped(name, `larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`);
      continue;
    }
    if (isBinary(content)) continue;
    yield { file: shown(path.join(top, name), cwd), text: content.toString('utf8') };
  }
}
