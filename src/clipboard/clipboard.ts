import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BackendUnavailableError, UsageError } from '../core/errors.js';
import { childEnvironment } from '../secrets/child-env.js';
import { CLEAR_HELPER_SOURCE, type ClearJob } from './clear-helper.js';

/**
 * `tokenctl get --copy`: the value onto the clipboard, never into an argument or an environment.
 *
 * Through the platform's tool (pbcopy, wl-copy, xclip or xsel, clip.exe), fed on stdin; through the terminal (OSC 52,
 * wrapped for tmux) when there is no tool or the session is remote (SSH: a tool would fill the remote machine's
 * clipboard, not the user's). Then, as `pass -c` does, a detached helper clears the clipboard after a while if it
 * still holds the value: it reads the clipboard back with the paste tool and compares digests. The helper is given
 * a salted SHA-256 of the value on a pipe, never the value, and none of tokenctl's credentials.
 */

export type Env = Record<string, string | undefined>;

/** How long the value stays on the clipboard (pass -c's default is 45 s too). */
export const CLEAR_AFTER_MS = 45_000;

interface ToolPlan {
  kind: 'tool';
  /** What the user is told ("xclip"). */
  name: string;
  copy: string[];
  /** Reads the clipboard back (exact bytes), for the comparison; null: cannot read it, clear unconditionally. */
  paste: string[] | null;
  /** Empties the clipboard (stdin empty). */
  clear: string[];
  /** The paste tool ends its output with a line break (PowerShell's Get-Clipboard). */
  pasteAddsNewline?: boolean;
}

interface Osc52Plan {
  kind: 'osc52';
  tmux: boolean;
  /** Why not a tool: for the message. */
  reason: 'remote' | 'no-tool' | 'no-display';
  /** no-display: the tool that is installed, and the variable that would name its display. */
  idle?: { tool: string; variable: 'DISPLAY' | 'WAYLAND_DISPLAY' };
}

export type ClipboardPlan = ToolPlan | Osc52Plan;

/** An executable named `name` on PATH, or null. */
export function findOnPath(name: string, env: Env, platform: NodeJS.Platform = process.platform): string | null {
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter((d) => d !== '');
  const exts = platform === 'win32' ? ['', '.exe', '.cmd', '.bat'] : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

const isRemote = (env: Env) => Boolean(env.SSH_CONNECTION || env.SSH_TTY);

function isWsl(env: Env): boolean {
  if (env.WSL_DISTRO_NAME) return true;
  try {
    return /microsoft/i.test(readFileSync('/proc/version', 'utf8'));
  } catch {
    return false;
  }
}

function windowsTool(clip: string, powershell: string | null): ToolPlan {
  const ps = powershell ?? null;
  return {
    kind: 'tool',
    name: path.basename(clip),
    copy: [clip],
    paste: ps ? [ps, '-NoProfile', '-NonInteractive', '-Command', 'Get-Clipboard -Raw'] : null,
    clear: [clip],
    pasteAddsNewline: ps !== null,
  };
}

/**
 * Which way the value goes. `terminal`: whether a terminal can receive OSC 52 (stderr is one). Throws (exit 8) when
 * there is neither a tool nor a terminal.
 */
export function planClipboard(env: Env, opts: { platform?: NodeJS.Platform; terminal: boolean; find?: (name: string) => string | null }): ClipboardPlan {
  const platform = opts.platform ?? process.platform;
  const find = opts.find ?? ((name: string) => findOnPath(name, env, platform));
  const osc = (reason: Osc52Plan['reason'], idle?: Osc52Plan['idle']): Osc52Plan => {
    if (!opts.terminal) {
      throw new BackendUnavailableError(
        reason === 'remote'
          ? 'no clipboard to copy to: in an SSH session the value goes to your terminal (OSC 52), and stderr is not a terminal; run it on a terminal, or use: tokenctl get <name> --output-file <path>'
          : idle
            ? `no display to copy to: ${idle.tool} is installed, but ${idle.variable} is not set (no graphical session here, as over SSH or on a console), and stderr is not a terminal for OSC 52; ` +
              `run it on a terminal, which then receives the value as OSC 52 (README: Copying a token), or set ${idle.variable} to your session's display, or use: tokenctl get <name> --output-file <path>`
            : 'no clipboard tool found (pbcopy, wl-copy, xclip, xsel or clip.exe) and stderr is not a terminal for OSC 52; install one (e.g. apt install wl-clipboard or xclip), or use: tokenctl get <name> --output-file <path>',
      );
    }
    return { kind: 'osc52', tmux: Boolean(env.TMUX), reason, ...(idle ? { idle } : {}) };
  };
  if (isRemote(env)) return osc('remote');
  if (platform === 'darwin') {
    const pbcopy = find('pbcopy');
    if (pbcopy) return { kind: 'tool', name: 'pbcopy', copy: [pbcopy], paste: find('pbpaste') ? [find('pbpaste')!] : null, clear: [pbcopy] };
    return osc('no-tool');
  }
  if (platform === 'win32') {
    const clip = find('clip');
    return clip ? windowsTool(clip, find('powershell')) : osc('no-tool');
  }
  if (env.WAYLAND_DISPLAY) {
    const wlCopy = find('wl-copy');
    const wlPaste = find('wl-paste');
    if (wlCopy) return { kind: 'tool', name: 'wl-copy', copy: [wlCopy], paste: wlPaste ? [wlPaste, '--no-newline'] : null, clear: [wlCopy, '--clear'] };
  }
  if (env.DISPLAY) {
    const xclip = find('xclip');
    if (xclip) {
      return { kind: 'tool', name: 'xclip', copy: [xclip, '-selection', 'clipboard', '-in'], paste: [xclip, '-selection', 'clipboard', '-out'], clear: [xclip, '-selection', 'clipboard', '-in'] };
    }
    const xsel = find('xsel');
    if (xsel) return { kind: 'tool', name: 'xsel', copy: [xsel, '--clipboard', '--input'], paste: [xsel, '--clipboard', '--output'], clear: [xsel, '--clipboard', '--clear'] };
  }
  if (isWsl(env)) {
    const clip = find('clip.exe');
    if (clip) return windowsTool(clip, find('powershell.exe'));
  }
  // A tool is installed but has no display to reach (its variable is unset): that, not a missing tool, is the cause.
  const idle = (
    [
      ['wl-copy', 'WAYLAND_DISPLAY'],
      ['xclip', 'DISPLAY'],
      ['xsel', 'DISPLAY'],
    ] as const
  ).find(([tool, variable]) => !env[variable] && find(tool));
  return idle ? osc('no-display', { tool: idle[0], variable: idle[1] }) : osc('no-tool');
}

/** OSC 52 "set the clipboard" (BEL-terminated, as tmux and most terminals accept), wrapped for tmux's passthrough. */
export function osc52(payload: string, opts: { tmux: boolean }): string {
  const seq = `\u001b]52;c;${Buffer.from(payload, 'utf8').toString('base64')}\u0007`;
  // tmux passes a DCS "tmux;" sequence through to the outer terminal, every ESC inside doubled (allow-passthrough on).
  return opts.tmux ? `\u001bPtmux;${seq.replace(/\u001b/g, '\u001b\u001b')}\u001b\\` : seq;
}

/** The environment of every process this module starts: the user's, without tokenctl's credentials or Node hooks. */
function toolEnv(env: Env): Record<string, string> {
  const out = childEnvironment(env, {});
  delete out.NODE_OPTIONS;
  return Object.fromEntries(Object.entries(out).filter((e): e is [string, string] => e[1] !== undefined));
}

const TOOL_TIMEOUT_MS = 5_000;

/** Runs a clipboard tool with `input` on stdin. Waits for its exit only (xclip and wl-copy leave a child serving the selection). */
function feed(argv: string[], input: string, env: Env): Promise<void> {
  return new Promise((resolve, reject) => {
    const name = path.basename(argv[0]!);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], env: toolEnv(env), windowsHide: true });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < 2_000) stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new BackendUnavailableError(`${name} did not answer within ${TOOL_TIMEOUT_MS / 1000} s; nothing was copied`));
    }, TOOL_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new BackendUnavailableError(`could not run ${name} (${(error as NodeJS.ErrnoException).code ?? error.message}); nothing was copied`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child.stderr!.destroy();
      if (code === 0) return resolve();
      // Its own words, first line only (never the value: it was on stdin, and tools do not echo it).
      const why = stderr.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200);
      reject(new BackendUnavailableError(`${name} could not set the clipboard (${why ?? (signal ? `killed by ${signal}` : `exit ${code}`)}); nothing was copied`));
    });
    child.stdin!.on('error', () => undefined); // a tool that exits early: its exit code says why
    child.stdin!.end(input);
  });
}

/** TOKENCTL_CLIPBOARD_CLEAR_MS: for tests only, how long before the clipboard is cleared (default 45 s). */
export function clearDelayMs(env: Env): number {
  const raw = env.TOKENCTL_CLIPBOARD_CLEAR_MS;
  if (raw === undefined || raw === '') return CLEAR_AFTER_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0 || ms > 24 * 3_600_000) throw new UsageError(`TOKENCTL_CLIPBOARD_CLEAR_MS='${raw.slice(0, 20)}' is not a number of milliseconds (tests only)`);
  return ms;
}

/**
 * Starts the detached helper that clears the clipboard after `job.delayMs`. Its command line is `node -` (the script
 * comes on stdin), the job (a digest, never the value) on fd 3; for OSC 52 its stdout is the terminal (stderr's fd).
 * Resolves once both pipes are written, so the process may exit at once.
 */
function startClearHelper(job: ClearJob, env: Env, opts: { node: string; terminalFd?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    // `node - tokenctl-clipboard-clear`: the script on stdin, the name for ps (and for process.title to fit into).
    const child = spawn(opts.node, ['-', 'tokenctl-clipboard-clear'], {
      detached: true,
      stdio: ['pipe', opts.terminalFd ?? 'ignore', 'ignore', 'pipe'],
      env: toolEnv(env),
      windowsHide: true,
    });
    child.on('error', reject);
    let pending = 2;
    const done = () => {
      if (--pending === 0) {
        child.unref();
        resolve();
      }
    };
    const jobPipe = child.stdio[3] as NodeJS.WritableStream;
    child.stdin!.on('error', reject);
    jobPipe.on('error', reject);
    child.stdin!.end(CLEAR_HELPER_SOURCE, done);
    jobPipe.end(JSON.stringify(job), done);
  });
}

export interface CopyResult {
  /** How the value went: the tool's name, or 'OSC 52'. */
  via: string;
  plan: ClipboardPlan;
  /** When it will be cleared (ms from now), or null (--no-clear). */
  clearsInMs: number | null;
}

export interface CopyOptions {
  env: Env;
  /** Whether stderr is a terminal (OSC 52 goes there). */
  terminal: boolean;
  /** Writes to that terminal (the command's stderr), for OSC 52. */
  writeTerminal(bytes: string): void;
  /** The fd of that terminal, given to the OSC 52 clearing helper. */
  terminalFd?: number;
  /** Clear after the delay (default) or leave it (--no-clear). */
  clear: boolean;
  /** The Node binary for the helper (process.execPath). */
  node: string;
  /**
   * A file (in the user's own tokenctl directory) naming the latest copy: a helper clears only if its copy is still
   * the latest, so `get x --copy --no-clear` after `get x --copy` is not undone by the first one's helper.
   */
  latestCopyFile?: string;
  platform?: NodeJS.Platform;
}

/** Records this copy as the latest (best effort: without the file, helpers compare the clipboard only). */
function markLatest(file: string | undefined): { file: string; id: string } | null {
  if (file === undefined) return null;
  const id = randomBytes(12).toString('hex');
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, id, { mode: 0o600 });
    renameSync(tmp, file);
    return { file, id };
  } catch {
    return null;
  }
}

/** Puts `value` on the clipboard, and arranges for it to be cleared. Nothing goes to stdout. */
export async function copyToClipboard(value: string, o: CopyOptions): Promise<CopyResult> {
  const delay = clearDelayMs(o.env);
  const plan = planClipboard(o.env, { platform: o.platform, terminal: o.terminal });
  let job: ClearJob | null = null;
  if (plan.kind === 'tool') {
    await feed(plan.copy, value, o.env);
    const latest = markLatest(o.latestCopyFile);
    if (o.clear) {
      const salt = randomBytes(16);
      const digest = createHash('sha256').update(salt).update(value, 'utf8').digest('base64');
      job = { delayMs: delay, salt: salt.toString('base64'), digest, paste: plan.paste, clear: plan.clear, pasteAddsNewline: plan.pasteAddsNewline === true, osc: null, latest };
    }
  } else {
    o.writeTerminal(osc52(value, { tmux: plan.tmux }));
    const latest = markLatest(o.latestCopyFile);
    // A terminal's clipboard cannot be read back (terminals refuse OSC 52 queries): the helper empties it unconditionally.
    if (o.clear && o.terminalFd !== undefined) job = { delayMs: delay, salt: null, digest: null, paste: null, clear: null, pasteAddsNewline: false, osc: osc52('', { tmux: plan.tmux }), latest };
  }
  if (job) await startClearHelper(job, o.env, { node: o.node, terminalFd: plan.kind === 'osc52' ? o.terminalFd : undefined });
  return { via: plan.kind === 'tool' ? plan.name : 'OSC 52', plan, clearsInMs: job ? delay : null };
}
