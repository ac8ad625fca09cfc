import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/core/errors.js';
import { clearDelayMs, osc52, planClipboard } from '../../src/clipboard/clipboard.js';

const tools = (...names: string[]) => (name: string) => (names.includes(name) ? `/usr/bin/${name}` : null);
const plan = (env: Record<string, string>, find: (n: string) => string | null, platform: NodeJS.Platform = 'linux', terminal = true) =>
  planClipboard(env, { platform, terminal, find });

describe('which clipboard get --copy uses', () => {
  it('feeds the platform tool on stdin: the value is never among its arguments', () => {
    expect(plan({ DISPLAY: ':0' }, tools('xclip', 'xsel'))).toMatchObject({ kind: 'tool', name: 'xclip', copy: ['/usr/bin/xclip', '-selection', 'clipboard', '-in'] });
    expect(plan({ DISPLAY: ':0' }, tools('xsel'))).toMatchObject({ kind: 'tool', name: 'xsel', clear: ['/usr/bin/xsel', '--clipboard', '--clear'] });
    expect(plan({ WAYLAND_DISPLAY: 'wayland-0', DISPLAY: ':0' }, tools('wl-copy', 'wl-paste', 'xclip'))).toMatchObject({ name: 'wl-copy', paste: ['/usr/bin/wl-paste', '--no-newline'] });
    expect(plan({}, tools('pbcopy', 'pbpaste'), 'darwin')).toMatchObject({ name: 'pbcopy', paste: ['/usr/bin/pbpaste'] });
    expect(plan({}, tools('clip', 'powershell'), 'win32')).toMatchObject({ copy: ['/usr/bin/clip'], pasteAddsNewline: true });
  });

  it('goes through the terminal (OSC 52) in an SSH session, or with no tool; inside tmux wrapped for passthrough', () => {
    expect(plan({ DISPLAY: ':0', SSH_CONNECTION: '1 2 3 4' }, tools('xclip'))).toEqual({ kind: 'osc52', tmux: false, reason: 'remote' });
    expect(plan({ SSH_TTY: '/dev/pts/1', TMUX: '/tmp/tmux,1,0' }, tools())).toEqual({ kind: 'osc52', tmux: true, reason: 'remote' });
    expect(plan({ DISPLAY: ':0' }, tools())).toMatchObject({ kind: 'osc52', reason: 'no-tool' });
  });

  it('with a tool installed but no display for it, names that cause (not a missing tool): OSC 52 on a terminal, else exit 8', () => {
    expect(plan({}, tools('xclip', 'xsel'))).toEqual({ kind: 'osc52', tmux: false, reason: 'no-display', idle: { tool: 'xclip', variable: 'DISPLAY' } });
    expect(plan({ WAYLAND_DISPLAY: 'wayland-0' }, tools('xclip'))).toMatchObject({ reason: 'no-display', idle: { tool: 'xclip', variable: 'DISPLAY' } });
    expect(plan({}, tools('wl-copy'))).toMatchObject({ reason: 'no-display', idle: { tool: 'wl-copy', variable: 'WAYLAND_DISPLAY' } });
    let error: unknown;
    try {
      plan({}, tools('xclip'), 'linux', false);
    } catch (e) {
      error = e;
    }
    expect(exitCodeFor(error)).toBe(8);
    expect((error as Error).message).toBe(
      'no display to copy to: xclip is installed, but DISPLAY is not set (no graphical session here, as over SSH or on a console), and stderr is not a terminal for OSC 52; ' +
        "run it on a terminal, which then receives the value as OSC 52 (README: Copying a token), or set DISPLAY to your session's display, or use: tokenctl get <name> --output-file <path>",
    );
    expect(() => plan({}, tools(), 'linux', false)).toThrow(/^no clipboard tool found/);
  });

  it('refuses (exit 8) when neither a tool nor a terminal is there', () => {
    let code = 0;
    try {
      plan({}, tools(), 'linux', false);
    } catch (error) {
      code = exitCodeFor(error);
    }
    expect(code).toBe(8);
  });

  it('writes OSC 52 as terminals and tmux expect it', () => {
    expect(osc52('tok', { tmux: false })).toBe('\u001b]52;c;dG9r\u0007');
    expect(osc52('tok', { tmux: true })).toBe('\u001bPtmux;\u001b\u001b]52;c;dG9r\u0007\u001b\\');
    expect(osc52('', { tmux: false })).toBe('\u001b]52;c;\u0007');
  });

  it('clears after 45 s; TOKENCTL_CLIPBOARD_CLEAR_MS (tests only) changes it, and a bad one is a usage error', () => {
    expect(clearDelayMs({})).toBe(45_000);
    expect(clearDelayMs({ TOKENCTL_CLIPBOARD_CLEAR_MS: '250' })).toBe(250);
    expect(() => clearDelayMs({ TOKENCTL_CLIPBOARD_CLEAR_MS: 'soon' })).toThrow(/not a number of milliseconds/);
  });
});
