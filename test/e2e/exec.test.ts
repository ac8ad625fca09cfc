import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, BIN, createToken, newAccount, runBin, startBin } from '../helpers/bin.js';
import { tempDir } from '../helpers/env.js';

beforeAll(assertBuilt);

const node = process.execPath;
const later = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

/** Waits until `text` shows up on a stream, so a signal is sent only once the child is ready for it. */
function waitFor(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    stream.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) resolve();
    });
  });
}

describe('exec', () => {
  it("passes values only through the environment and exits with the child's code", async () => {
    const { env, defaultValue } = await newAccount();
    const s2s = await createToken(env, 's2s', 'Events prod-1');
    const script = `process.stdout.write(JSON.stringify({ argv: process.argv, a: process.env.TOKENCTL_DEFAULT, b: process.env.S2S, c: process.env.TOKENCTL_EVENTS_PROD_1, key: process.env.TOKENCTL_MASTER_KEY, home: process.env.TOKENCTL_HOME })); process.exit(7)`;
    const r = await runBin(['exec', '--token', 'default', '--token', 'Events prod-1=S2S', '--allow-pending', '--', node, '-e', script], { env });
    expect(r.code).toBe(7);
    const seen = JSON.parse(r.stdout) as { argv: string[]; a: string; b: string; c?: string; key?: string; home?: string };
    expect(seen.key).toBeUndefined(); // tokenctl's own credential stays behind
    expect(seen.home).toBe(env.TOKENCTL_HOME);
    expect(seen.a).toBe(defaultValue);
    expect(seen.b).toBe(s2s);
    expect(seen.c).toBeUndefined();
    expect(JSON.stringify(seen.argv)).not.toContain(defaultValue);
    expect(JSON.stringify(seen.argv)).not.toContain(s2s);
    expect(r.stderr).toBe('');

    const ok = await runBin(['exec', '--token', 'default', '--', node, '-e', 'process.exit(0)'], { env });
    expect(ok.code).toBe(0);
  });

  it('registers every value for masking under GitHub Actions before the command starts', async () => {
    const { env, defaultValue } = await newAccount();
    const s2s = await createToken(env, 's2s', 'events');
    const r = await runBin(['exec', '--token', 'default', '--token', 'events', '--allow-pending', '--', node, '-e', 'console.error("child")'], {
      env: { ...env, GITHUB_ACTIONS: 'true' },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`::add-mask::${defaultValue}\n::add-mask::${s2s}\nchild\n`);
    expect(r.stdout).toBe('');
  });

  it('passes stdin through to the child', async () => {
    const { env } = await newAccount();
    const r = await runBin(['exec', '--token', 'default', '--', node, '-e', 'process.stdin.pipe(process.stdout)'], {
      env,
      input: 'line one\nline two\n',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('line one\nline two\n');
  });

  it('forwards a signal the child handles, and exits with its code', async () => {
    const { env } = await newAccount();
    const script = `process.on('SIGTERM', () => { console.log('child got SIGTERM'); process.exit(42); }); console.log('ready'); setInterval(() => {}, 1000);`;
    const child = startBin(['exec', '--token', 'default', '--', node, '-e', script], { env });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(child.stdout!, 'ready');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(out).toContain('child got SIGTERM');
    expect(code).toBe(42);
  });

  it('exits with 128+signal when the child is killed by a signal, and Ctrl-C reaches the child', async () => {
    const { env } = await newAccount();
    const plain = startBin(['exec', '--token', 'default', '--', node, '-e', `console.log('ready'); setInterval(() => {}, 1000);`], { env });
    await waitFor(plain.stdout!, 'ready');
    plain.kill('SIGTERM');
    expect(await new Promise((resolve) => plain.on('close', (c) => resolve(c)))).toBe(128 + 15);

    const script = `process.on('SIGINT', () => { console.log('child got SIGINT'); process.exit(3); }); console.log('ready'); setInterval(() => {}, 1000);`;
    const interrupted = startBin(['exec', '--token', 'default', '--', node, '-e', script], { env });
    let out = '';
    interrupted.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(interrupted.stdout!, 'ready');
    interrupted.kill('SIGINT');
    // Not tokenctl's own "cancelled" (10): the child decides.
    expect(await new Promise((resolve) => interrupted.on('close', (c) => resolve(c)))).toBe(3);
    expect(out).toContain('child got SIGINT');
  });

  // `script` runs tokenctl on a real pseudo-terminal; typing Ctrl-C there signals the whole foreground group.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('on a terminal, Ctrl-C reaches the child once and tokenctl exits with its code', async () => {
    const { env } = await newAccount();
    const counter = path.join(tempDir(), 'count.js');
    // Counts SIGINTs for half a second after the first one (a second, forwarded copy would arrive within it);
    // a slow machine only delays the start of that window, it cannot make the test miss the signal.
    const report = "() => { console.log('sigints=' + n); process.exit(n); }";
    writeFileSync(counter, `let n = 0; process.on('SIGINT', () => { if (++n === 1) setTimeout(${report}, 500); }); console.log('ready'); setTimeout(${report}, 20000);`);
    const term = spawn('script', ['-qec', `${node} ${BIN} exec --token default -- ${node} ${counter}; echo "rc=$?"`, '/dev/null'], { env: { ...env, SHELL: '/bin/bash' } });
    let out = '';
    term.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(term.stdout!, 'ready');
    term.stdin!.write('\x03');
    await new Promise((resolve) => term.on('close', resolve));
    expect(out).toContain('sigints=1');
    expect(out).toContain('rc=1');
  });

  it('--mask replaces values in stdout and stderr, also when a value is split across writes', async () => {
    const { env, defaultValue } = await newAccount();
    const s2s = await createToken(env, 's2s', 'events');
    const script = `
      const v = process.env.TOKENCTL_DEFAULT, w = process.env.TOKENCTL_EVENTS;
      const half = v.length >> 1;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      (async () => {
        process.stdout.write('before ' + v.slice(0, half));
        process.stderr.write('err ' + w.slice(0, 5));
        await sleep(150);
        process.stdout.write(v.slice(half) + ' after\\n');
        process.stderr.write(w.slice(5) + ' end\\n');
        await sleep(50);
        for (const c of w) process.stdout.write(c);
        process.stdout.write('\\nbinary-safe: ' + Buffer.from([0xe2, 0x82, 0xac]).toString() + '\\n');
      })();`;
    const r = await runBin(['exec', '--token', 'default', '--token', 'events', '--allow-pending', '--mask', '--', node, '-e', script], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('before *** after\n***\nbinary-safe: €\n');
    expect(r.stderr).toBe('err *** end\n');
    for (const v of [defaultValue, s2s]) {
      for (const part of [v.slice(0, 12), v.slice(-12)]) expect(r.stdout + r.stderr).not.toContain(part);
    }
  });

  it('--mask behaves like a pipe when the reader goes away: the command gets SIGPIPE, tokenctl exits 141 quietly', async () => {
    const { env } = await newAccount();
    const errFile = path.join(tempDir(), 'err.txt');
    for (let i = 0; i < 3; i++) {
      const line = `${JSON.stringify(node)} ${JSON.stringify(BIN)} exec --token default --mask -- yes 2>${JSON.stringify(errFile)} | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`;
      const r = spawnSync('bash', ['-c', line], { env, encoding: 'utf8', timeout: 20_000 });
      expect(r.stdout.trim()).toBe('141');
      expect(readFileSync(errFile, 'utf8')).toBe('');
    }
  });

  it('refuses pending, missing and deleted tokens without running anything', async () => {
    const { env } = await newAccount();
    await createToken(env, 'onelink', 'fresh');
    const marker = path.join(tempDir(), 'ran');
    const cmd = ['--', node, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`];
    const pending = await runBin(['exec', '--token', 'fresh', ...cmd], { env });
    expect(pending.code).toBe(5);
    const missing = await runBin(['exec', '--token', 'default', '--token', 'nope', ...cmd], { env });
    expect(missing.code).toBe(3);
    expect(existsSync(marker)).toBe(false);

    const active = await runBin(['exec', '--token', 'fresh', ...cmd], { env: { ...env, TOKENCTL_NOW: later(31) } });
    expect(active.code).toBe(0);
    expect(existsSync(marker)).toBe(true);

    expect((await runBin(['delete', 'fresh', '--confirm', 'Delete token'], { env })).code).toBe(0);
    const deletedMarker = path.join(tempDir(), 'ran-after-delete');
    const deleted = await runBin(['exec', '--token', 'fresh', '--', node, '-e', `require('fs').writeFileSync(${JSON.stringify(deletedMarker)}, 'x')`], { env });
    expect(deleted.code).toBe(3);
    expect(existsSync(deletedMarker)).toBe(false);
  });

  it('reports usage errors and a command that cannot be found', async () => {
    const { env } = await newAccount();
    expect((await runBin(['exec', '--', 'true'], { env })).code).toBe(2);
    expect((await runBin(['exec', '--token', 'default'], { env })).code).toBe(2);
    expect((await runBin(['exec', '--token', 'default=1BAD', '--', 'true'], { env })).code).toBe(2);
    const clash = await runBin(['exec', '--token', 'default=X', '--token', 'default=X', '--', 'true'], { env });
    expect(clash.code).toBe(2);
    const notFound = await runBin(['exec', '--token', 'default', '--', 'no-such-command-tokenctl-test'], { env });
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toMatch(/command not found/);
  });

  it('finds the command first: one that cannot start (not found, not executable, a directory) retrieves and records nothing', async () => {
    const { env } = await newAccount();
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'deploy.sh'), '#!/bin/sh\necho deployed\n', { mode: 0o644 });
    mkdirSync(path.join(cwd, 'tools'));
    const trail = async () => (await runBin(['log', '--json'], { env })).stdout;
    const before = await trail();
    const cases: [string, number, string][] = [
      ['./no-such-command', 127, 'no such file'],
      ['no-such-command-tokenctl-test', 127, 'command not found'],
      ['./deploy.sh', 126, 'not executable (permission denied)'],
      ['./tools', 126, 'is a directory'],
    ];
    for (const [command, code, why] of cases) {
      const r = await runBin(['exec', '--token', 'default', '--', command], { env, cwd });
      expect(r, command).toMatchObject({ code, stdout: '', stderr: `error: ${command}: ${why}; no token was retrieved\n` });
    }
    expect(await trail()).toBe(before); // no token.reveal recorded
    // Found through PATH, it runs as the name typed (argv[0]), and the retrieval is recorded.
    const shown = await runBin(['exec', '--token', 'default', '--', 'node', '-e', 'process.stdout.write(process.argv0)'], {
      env: { ...env, PATH: `${path.dirname(node)}:${env.PATH}` },
      cwd,
    });
    expect(shown).toMatchObject({ code: 0, stdout: 'node' });
    expect(JSON.parse(await trail()).at(-1)).toMatchObject({ action: 'token.reveal', token: { name: 'default' } });
  });
});
