import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, newAccount, runBin } from '../helpers/bin.js';
import { tempDir } from '../helpers/env.js';

/**
 * `tokenctl get --copy` against a real X clipboard (Debian's Xvfb and xclip) and, for OSC 52, through a real
 * pseudo-terminal. Without Xvfb or xclip the X tests skip; TOKENCTL_REQUIRE_CLIPBOARD=1 (CI) makes that a failure.
 */
const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || null;
const haveX = which('Xvfb') !== null && which('xclip') !== null;
const required = process.env.TOKENCTL_REQUIRE_CLIPBOARD === '1';
const PTY = path.join(ROOT, 'test', 'helpers', 'pty_run.py');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('has a real X clipboard to test against, when TOKENCTL_REQUIRE_CLIPBOARD=1 says so', () => {
  if (required) expect(haveX, 'TOKENCTL_REQUIRE_CLIPBOARD=1 but Xvfb or xclip is missing: apt-get install -y xvfb xclip').toBe(true);
});

/** Every process whose command line or environment holds `needle`, by pid (this test's own processes aside). */
function processesHolding(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      try {
        if (readFileSync(`/proc/${pid}/${file}`).includes(needle)) found.push(`${pid}/${file}`);
      } catch {
        // gone, or not ours
      }
    }
  }
  return found;
}

function pidsNamed(title: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(title);
      } catch {
        return false;
      }
    });
}

describe.skipIf(!haveX)('get --copy with a real X clipboard (Xvfb, xclip)', () => {
  let xvfb: ChildProcess;
  let display = '';

  beforeAll(async () => {
    // A display number nobody uses: no lock file, no socket.
    let n = 90 + Math.floor(Math.random() * 400);
    while (existsSync(`/tmp/.X${n}-lock`) || existsSync(`/tmp/.X11-unix/X${n}`)) n++;
    display = `:${n}`;
    xvfb = spawn('Xvfb', [display, '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(`/tmp/.X11-unix/X${n}`); i++) await sleep(50);
    expect(existsSync(`/tmp/.X11-unix/X${n}`), 'Xvfb did not start').toBe(true);
  });
  afterAll(() => {
    xvfb?.kill('SIGTERM');
  });

  const clipboard = () => {
    const r = spawnSync('xclip', ['-o', '-selection', 'clipboard'], { env: { ...process.env, DISPLAY: display }, encoding: 'utf8', timeout: 5000 });
    return r.status === 0 ? r.stdout : '';
  };
  const setClipboard = (text: string) => spawnSync('xclip', ['-i', '-selection', 'clipboard'], { env: { ...process.env, DISPLAY: display }, input: text, stdio: ['pipe', 'ignore', 'ignore'], timeout: 5000 });
  const until = async (cond: () => boolean, ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (cond()) return true;
    return cond();
  };

  it('copies the value through xclip (stdin, never an argument), prints nothing on stdout, and records a retrieval', async () => {
    const { env, defaultValue } = await newAccount();
    const r = await runBin(['get', 'default', '--copy'], { env: { ...env, DISPLAY: display, TOKENCTL_CLIPBOARD_CLEAR_MS: '2500' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Copied the value of api token 'default' \(tok_\w+\) to the clipboard \(xclip\); it will be cleared in 3 s if it is still there \(keep it with --no-clear\)\n$/);
    expect(r.stderr).not.toContain(defaultValue);
    expect(clipboard()).toBe(defaultValue);
    // Neither xclip (serving the selection) nor the clearing helper has the value, or the master key, in its command
    // line or environment.
    expect(pidsNamed('tokenctl-clipboard-clear').length).toBeGreaterThan(0);
    expect(processesHolding(defaultValue)).toEqual([]);
    expect(processesHolding(env.TOKENCTL_MASTER_KEY!)).toEqual([]);
    const log = JSON.parse((await runBin(['log', '--json'], { env })).stdout) as { action: string; token: { name: string } | null }[];
    expect(log.at(-1)).toMatchObject({ action: 'token.reveal', token: { name: 'default' } });
    // Cleared after the delay, since it still held the value.
    expect(await until(() => clipboard() === '', 6000)).toBe(true);
  });

  it('leaves the clipboard alone when something else was copied since, and with --no-clear', async () => {
    const { env, defaultValue } = await newAccount();
    const xenv = { ...env, DISPLAY: display, TOKENCTL_CLIPBOARD_CLEAR_MS: '800' };
    // 2 s here: the value must still be there when the test reads it back, on a slow machine too.
    expect((await runBin(['get', 'default', '--copy'], { env: { ...xenv, TOKENCTL_CLIPBOARD_CLEAR_MS: '2000' } })).code).toBe(0);
    expect(clipboard()).toBe(defaultValue);
    setClipboard('something the user copied');
    // The clearing helper has run (and exited) and left what the user copied.
    await until(() => pidsNamed('tokenctl-clipboard-clear').length === 0, 5000);
    expect(clipboard()).toBe('something the user copied');

    const kept = await runBin(['get', 'default', '--copy', '--no-clear'], { env: xenv });
    expect(kept.code).toBe(0);
    expect(kept.stderr).toMatch(/it stays there until something else is copied/);
    // No clearing helper was started: nothing will clear it.
    expect(pidsNamed('tokenctl-clipboard-clear')).toEqual([]);
    expect(clipboard()).toBe(defaultValue);
  });

  it('refuses --no-clear without --copy, and --copy with --output-file (exit 2, nothing retrieved)', async () => {
    const { env } = await newAccount();
    const before = (await runBin(['log', '--json'], { env })).stdout;
    expect((await runBin(['get', 'default', '--no-clear'], { env })).code).toBe(2);
    const both = await runBin(['get', 'default', '--copy', '--output-file', path.join(tempDir(), 'x')], { env: { ...env, DISPLAY: display } });
    expect(both.code).toBe(2);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runBin(['log', '--json'], { env })).stdout).toBe(before);
  });
});

describe('get --copy without a clipboard tool', () => {
  it('says what to install (exit 8) when there is no tool and stderr is not a terminal, and retrieves nothing', async () => {
    const { env } = await newAccount();
    const noTools = tempDir(); // a PATH without any clipboard tool
    const before = (await runBin(['log', '--json'], { env })).stdout;
    const r = await runBin(['get', 'default', '--copy'], { env: { ...env, PATH: noTools } });
    expect(r.code).toBe(8);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no clipboard tool found .* install one/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runBin(['log', '--json'], { env })).stdout).toBe(before);
  });
});

describe('get --copy with a clipboard tool but no display to reach', () => {
  it.skipIf(which('xclip') === null && !required)('names that cause, not a missing tool, and the fix (exit 8), and retrieves nothing', async () => {
    const { env } = await newAccount(); // PATH has xclip; no DISPLAY, no WAYLAND_DISPLAY; stderr is a pipe
    expect(env.DISPLAY).toBeUndefined();
    const before = (await runBin(['log', '--json'], { env })).stdout;
    const r = await runBin(['get', 'default', '--copy'], { env });
    expect(r.code).toBe(8);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: no display to copy to: xclip is installed, but DISPLAY is not set \(no graphical session here, as over SSH or on a console\), and stderr is not a terminal for OSC 52; run it on a terminal, which then receives the value as OSC 52 \(README: Copying a token\)/);
    expect(r.stderr).not.toMatch(/no clipboard tool found|install one/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runBin(['log', '--json'], { env })).stdout).toBe(before);
  });
});

describe('get --copy through the terminal (OSC 52), in a real pseudo-terminal', () => {
  /** Runs `tokenctl get default --copy` in a pseudo-terminal with stdout to a file; returns what the terminal received. */
  function inPty(env: Record<string, string>, extra: string[] = []) {
    const out = path.join(tempDir(), 'stdout');
    const line = [process.execPath, BIN, 'get', 'default', '--copy', ...extra].map((a) => `'${a}'`).join(' ') + ` > '${out}'`;
    const r = spawnSync('python3', [PTY, '[]', '--', 'sh', '-c', line], { env: { ...env, TERM: 'xterm' }, encoding: 'latin1', timeout: 40_000 });
    return { code: r.status, screen: r.stdout, stdout: readFileSync(out, 'utf8'), stderr: r.stderr };
  }
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

  it('in an SSH session: sends OSC 52 with the value to the terminal, nothing on stdout; the helper empties it after the delay', async () => {
    const { env, defaultValue } = await newAccount();
    // A display and xclip would be the remote machine's: in SSH the terminal's clipboard is the user's.
    const r = inPty({ ...env, SSH_TTY: '/dev/pts/9', SSH_CONNECTION: '10.0.0.1 50000 10.0.0.2 22', DISPLAY: ':0', TOKENCTL_CLIPBOARD_CLEAR_MS: '300' });
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const set = `\u001b]52;c;${b64(defaultValue)}\u0007`;
    const cleared = '\u001b]52;c;\u0007';
    expect(r.screen).toContain(set);
    expect(r.screen.indexOf(cleared)).toBeGreaterThan(r.screen.indexOf(set));
    expect(r.screen).not.toContain(defaultValue); // only its base64, consumed by the terminal
    expect(r.screen).toMatch(/Sent the value of api token 'default' \(tok_\w+\) to your terminal's clipboard \(OSC 52; a terminal without OSC 52 copies nothing\); it will be emptied in 300 ms, whatever it holds then \(keep it with --no-clear\)/);
  });

  it('inside tmux: wraps OSC 52 in the tmux passthrough sequence (ESC doubled), and --no-clear sends no clearing sequence', async () => {
    const { env, defaultValue } = await newAccount();
    const r = inPty({ ...env, SSH_TTY: '/dev/pts/9', TMUX: '/tmp/tmux-0/default,1234,0' }, ['--no-clear']);
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.screen).toContain(`\u001bPtmux;\u001b\u001b]52;c;${b64(defaultValue)}\u0007\u001b\\`);
    expect(r.screen).not.toContain('\u001b]52;c;\u0007');
    expect(r.screen).toMatch(/through tmux: it needs set -g allow-passthrough on/);
    expect(r.screen).toMatch(/it stays there until something else is copied/);
  });

  it('with no display (no tool to use), falls back to OSC 52 on a terminal', async () => {
    const { env, defaultValue } = await newAccount();
    const { DISPLAY: _d, WAYLAND_DISPLAY: _w, ...local } = env;
    const r = inPty({ ...local, TOKENCTL_CLIPBOARD_CLEAR_MS: '200' });
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.screen).toContain(`\u001b]52;c;${b64(defaultValue)}\u0007`);
    expect(r.screen).toContain('\u001b]52;c;\u0007');
    // Why not xclip, when it is installed: it has no display to reach.
    if (which('xclip') !== null) expect(r.screen).toMatch(/\(OSC 52, as xclip has no display to reach \(DISPLAY is not set\); a terminal without OSC 52 copies nothing\)/);
  });
});
