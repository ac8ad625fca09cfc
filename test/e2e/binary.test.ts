import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runBin, BIN, ROOT } from '../helpers/bin.js';
import { baseEnv, newMasterKeyB64, tempHome } from '../helpers/env.js';

describe('the built binary, as a user runs it (stdin at /dev/null)', () => {
  it('walks the whole flow with TOKENCTL_NOW stepping the clock', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_NOW: '2026-01-10T09:00:00Z' });
    const init = await runBin(['init'], { env });
    expect(init).toMatchObject({ code: 0, stdout: '' });
    expect(init.stderr).toMatch(/Created account 'default'/);

    const created = await runBin(['create', '--type', 's2s', '--name', 'ci'], { env });
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^tctl_s2s_\w+\n$/);
    expect(created.stderr).toMatch(/pending until 2026-01-10 09:30 UTC/);
    const value = created.stdout.trim();

    expect((await runBin(['get', 'ci'], { env })).code).toBe(5);
    const later = { ...env, TOKENCTL_NOW: '2026-01-10T09:31:00Z' };
    const got = await runBin(['get', 'ci'], { env: later });
    expect(got).toMatchObject({ code: 0, stdout: value, stderr: '' });

    const listed = await runBin(['list', '--json'], { env: later });
    expect(JSON.parse(listed.stdout).map((t: { name: string; status: string }) => `${t.name}:${t.status}`)).toEqual(['default:active', 'ci:active']);
    expect(listed.stdout).not.toContain(value);

    expect((await runBin(['rename', 'ci', 'ci-deploy'], { env: later })).code).toBe(0);
    expect((await runBin(['delete', 'ci-deploy'], { env: later })).code).toBe(2);
    expect((await runBin(['delete', 'ci-deploy', '--confirm', 'Delete token'], { env: later })).code).toBe(0);
    const all = JSON.parse((await runBin(['list', '--all', '--json'], { env: { ...env, TOKENCTL_NOW: '2026-01-10T10:30:00Z' } })).stdout);
    expect(all.find((t: { name: string }) => t.name === 'ci-deploy').status).toBe('revoked');
    const stale = await runBin(['list'], { env: { ...env, TOKENCTL_NOW: '2026-07-11T09:00:00Z' } });
    expect(stale.stderr).toMatch(/warning: api token 'default' is 182 days old/);
  });

  it('writes exactly the value to a file with `get x > file`', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await runBin(['init'], { env });
    const file = path.join(home, 'token.txt');
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" get default > "${file}" < /dev/null`], { env: { ...env, PATH: process.env.PATH! } });
    expect(r.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('works on a bare machine: no keychain, no master key; key file 0600 with a warning', async () => {
    const home = tempHome();
    const env = baseEnv(home);
    const init = await runBin(['init'], { env });
    expect(init.code).toBe(0);
    expect(init.stderr).toMatch(/warning: no OS keychain available: the master key was saved in .*master\.key \(mode 0600\)/);
    const keyFile = path.join(home, 'profiles', 'default', 'master.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect((await runBin(['get', 'default'], { env })).code).toBe(0);
  });

  it('maps failures to the documented exit codes with one line and no stack trace', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    const cases: [string[], Record<string, string>, number][] = [
      [['list'], {}, 3],
      [['bogus'], {}, 2],
      [['list'], { TOKENCTL_NOW: 'tomorrow' }, 2],
    ];
    for (const [args, extra, code] of cases) {
      const r = await runBin(args, { env: { ...env, ...extra } });
      expect(r.code, `${args.join(' ')} ${JSON.stringify(extra)}`).toBe(code);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    await runBin(['init'], { env });
    writeCorrupt(path.join(home, 'profiles', 'default', 'store.json'));
    const corrupt = await runBin(['list'], { env });
    expect(corrupt.code).toBe(9);
    expect(corrupt.stderr.trim().split('\n')).toHaveLength(1);
    const debug = await runBin(['list', '--debug'], { env });
    expect(debug.code).toBe(9);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('prints help and version without touching the store', async () => {
    const home = tempHome();
    const env = baseEnv(home);
    const help = await runBin(['--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: tokenctl/);
    const version = await runBin(['--version'], { env });
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    expect(existsSync(path.join(home, 'profiles'))).toBe(false);
    const none = await runBin([], { env });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: tokenctl/);
  });

  it('never lets a raw escape byte from a hand-edited store reach the terminal', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await runBin(['init'], { env });
    const store = path.join(home, 'profiles', 'default', 'store.json');
    const doc = JSON.parse(readFileSync(store, 'utf8'));
    doc.tokens[0].name = 'evil\u001b]0;owned\u0007';
    writeFileSync(store, JSON.stringify(doc), { mode: 0o600 });
    const r = await runBin(['list', '--json'], { env });
    expect(r.code).toBe(9);
    expect(r.stdout + r.stderr).not.toContain('\u001b');
    expect(readdirSync(path.dirname(store))).toContain('store.json');
  });
});

function writeCorrupt(file: string) {
  // Truncated mid-document, as a crash of a careless writer would leave it.
  writeFileSync(file, readFileSync(file, 'utf8').slice(0, 100));
}
