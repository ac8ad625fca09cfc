import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { BIN, ROOT, runBin, startServe } from '../helpers/bin.js';
import { baseEnv, newMasterKeyB64, tempHome } from '../helpers/env.js';

const PTY = path.join(ROOT, 'test', 'helpers', 'pty_run.py');

/** Runs tokenctl in a real pseudo-terminal, typing `steps` at its prompts. */
function inPty(args: string[], steps: { expect: string; send: string }[], env: Record<string, string>) {
  const r = spawnSync('python3', [PTY, JSON.stringify(steps), '--', process.execPath, BIN, ...args], {
    env: { ...env, PATH: process.env.PATH!, TERM: 'xterm' },
    encoding: 'utf8',
    timeout: 40_000,
  });
  return { code: r.status, screen: r.stdout, stderr: r.stderr };
}

async function account() {
  const home = tempHome();
  const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
  await runBin(['init'], { env });
  await runBin(['create', '--type', 's2s', '--name', 'events'], { env });
  const count = async () => JSON.parse((await runBin(['list', '--json'], { env })).stdout).length as number;
  return { env, count };
}

describe('typed confirmation through a real pseudo-terminal', () => {
  it('deletes only after the exact phrase is typed', async () => {
    const { env, count } = await account();
    const r = inPty(['delete', 'events'], [{ expect: 'Type "Delete token"', send: 'Delete token\r' }], env);
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.screen).toMatch(/About to delete s2s token 'events'/);
    expect(r.screen).toMatch(/Deleted s2s token 'events'/);
    expect(r.screen).toMatch(/✔ Type "Delete token" to delete it \(anything else cancels\) Delete token/);
    expect(await count()).toBe(1);
  });

  it('against the token service, the screen says who still uses the token before the phrase is typed', async () => {
    const home = tempHome();
    const data = path.join(home, 'service-data');
    const env = baseEnv(home, {});
    const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
    const gateway = (await runBin(['server', 'add-principal', '--data', data, '--account', 'acme', '--role', 'service', '--name', 'edge-gw'], { env })).stdout.trim();
    const serve = await startServe(env, data);
    const remote = { ...env, TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: admin };
    const value = (await runBin(['get', 'default'], { env: remote })).stdout.trim();
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${serve.url}/v1/introspect`, { method: 'POST', headers: { authorization: `Bearer ${gateway}` }, body: new URLSearchParams({ token: value }) });
      expect(((await r.json()) as { active: boolean }).active).toBe(true);
    }
    const r = inPty(['delete', 'default'], [{ expect: 'Type "Delete token"', send: 'no\r' }], remote);
    expect(r.code, r.screen + r.stderr).toBe(10);
    const screen = r.screen.replace(/\r/g, '');
    expect(screen).toMatch(/Last used less than a minute ago by edge-gw from 127\.0\.0\.1; 2 calls in the last 24 hours\./);
    expect(screen).toMatch(/Retrieved once, last less than a minute ago by admin from 127\.0\.0\.1\./);
    expect(screen.indexOf('Last used')).toBeLessThan(screen.indexOf('Type "Delete token"'));
    expect(screen).not.toContain(value);
  });

  it('cancels with exit 10 on any other answer, and on Ctrl-C', async () => {
    const { env, count } = await account();
    const wrong = inPty(['delete', 'events'], [{ expect: 'Type "Delete token"', send: 'delete token\r' }], env);
    expect(wrong.code, wrong.screen + wrong.stderr).toBe(10);
    expect(wrong.screen).toMatch(/did not match; nothing was deleted/);
    // A cancellation never looks like a success: no check mark on the answered prompt, a cross instead.
    expect(wrong.screen).not.toContain('✔');
    // 'events' is pending and no s2s token is active: the warning says that, not "the last active s2s token"
    expect(wrong.screen).not.toMatch(/last active/);
    expect(wrong.screen).toMatch(/warning: no s2s token is active, and this pending one is the only one that would become active/);
    expect(wrong.screen).toMatch(/✖ Type "Delete token" to delete it \(anything else cancels\): did not match/);
    expect(wrong.screen).not.toMatch(/delete token\s*\r?\n[^]*✖/i);
    const ctrlC = inPty(['delete', 'events'], [{ expect: 'Type "Delete token"', send: '\u0003' }], env);
    expect(ctrlC.code, ctrlC.screen + ctrlC.stderr).toBe(10);
    expect(await count()).toBe(2);
  });

  it('rotate asks for the same typed phrase before deleting the old token', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_NOW: '2026-02-01T10:00:00Z' });
    await runBin(['init'], { env });
    expect((await runBin(['rotate', 'default', '--name', 'next'], { env })).code).toBe(0);
    const later = { ...env, TOKENCTL_NOW: '2026-02-01T10:31:00Z' };
    const wrong = inPty(['rotate', 'default', '--resume'], [{ expect: 'Type "Delete token"', send: 'no\r' }], later);
    expect(wrong.code, wrong.screen).toBe(10);
    expect(wrong.screen).toMatch(/'default' was kept/);
    expect(wrong.screen).not.toContain('✔');
    const r = inPty(['rotate', 'default', '--resume'], [{ expect: 'Type "Delete token"', send: 'Delete token\r' }], later);
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.screen).toMatch(/Rotated: 'next' is active; 'default' is deleted/);
  });

  it('a drill on a store not made in one: the warning comes before the typed phrase, not after (rotate --resume, delete)', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await runBin(['init'], { env }); // a real store: made on the real clock
    await runBin(['create', '--type', 's2s', '--name', 'events'], { env });
    const drill = new Date(Date.now() + 24 * 3_600_000);
    const at = (minutes: number) => ({ ...env, TOKENCTL_NOW: new Date(drill.getTime() + minutes * 60_000).toISOString() });
    expect((await runBin(['rotate', 'default', '--name', 'next'], { env: at(0) })).code).toBe(0);
    const warning = /warning: TOKENCTL_NOW=\S+ is set, but the store in .* was not created in a drill: this change is recorded at \S+ for good/;
    const prompt = 'Type "Delete token"';
    for (const args of [['rotate', 'default', '--resume'], ['delete', 'events']]) {
      const r = inPty(args, [{ expect: prompt, send: 'Delete token\r' }], at(31));
      expect(r.code, r.screen + r.stderr).toBe(0);
      const screen = r.screen.replace(/\r?\n/g, ' ');
      expect(screen, args.join(' ')).toMatch(warning);
      expect(screen.search(warning), args.join(' ')).toBeLessThan(screen.indexOf(prompt));
      expect(screen.match(/was not created in a drill/g), args.join(' ')).toHaveLength(1); // said once
    }
  });

  it('a hidden prompt says once that the input is hidden', async () => {
    const { env } = await account();
    const r = inPty(['verify'], [{ expect: 'Paste the token', send: 'tctl_s2s_notarealvalue\r' }], env);
    expect(r.screen).toMatch(/Paste the token \(input hidden\)/);
    expect(r.screen).not.toMatch(/input is masked|input is hidden|\(input hidden\)\s*\(input hidden\)/);
    expect(r.screen).not.toContain('tctl_s2s_notarealvalue'); // nothing echoed
    expect(r.code).toBe(2); // a malformed value, rejected offline
  });

  it('colours only a terminal: a table redirected to a file has no escape codes', async () => {
    const { env: plain } = await account();
    const { NO_COLOR: _, ...env } = plain;
    const out = path.join(env.TOKENCTL_HOME!, 'list.txt');
    const onTerminal = inPty(['list'], [], env);
    expect(onTerminal.screen).toContain('\u001b[');
    const r = spawnSync('python3', [PTY, '[]', '--', 'sh', '-c', `"${process.execPath}" "${BIN}" list > "${out}"; "${process.execPath}" "${BIN}" audit >> "${out}"`], {
      env: { ...env, PATH: process.env.PATH!, TERM: 'xterm' },
      encoding: 'utf8',
      timeout: 40_000,
    });
    expect(r.status).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/events/);
    expect(text).not.toContain('\u001b');
  });

  it.each([80, 120])('list fits a %i-column terminal: one line per token, no rules', async (columns) => {
    const { env } = await account();
    await runBin(['create', '--type', 'onelink', '--name', 'campaigns-for-the-spring-launch'], { env });
    await runBin(['create', '--type', 's2s', '--name', 'events-production-eu-west'], { env });
    // The terminal's real size, set on the pseudo-terminal before tokenctl starts (what `stty cols` does).
    const sized = `import fcntl, os, struct, sys, termios; fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, ${columns}, 0, 0)); os.execv(sys.argv[1], sys.argv[1:])`;
    const r = spawnSync('python3', [PTY, '[]', '--', 'python3', '-c', sized, process.execPath, BIN, 'list'], {
      env: { ...env, PATH: process.env.PATH!, TERM: 'xterm' },
      encoding: 'utf8',
      timeout: 40_000,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.replace(/\u001b\[[0-9;]*m/g, '').split(/\r?\n/).filter((l) => l.trim() !== '');
    expect(lines[0]).toMatch(/^NAME\s+TYPE\s+STATUS/);
    expect(lines).toHaveLength(5); // the header and four tokens: nothing wraps, no rule between rows
    for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(columns);
    expect(r.stdout).not.toMatch(/[─┼│┌└]/);
    expect(lines.join('\n')).not.toMatch(/LAST USED/); // a local store cannot know
    if (columns === 120) expect(lines[0]).toMatch(/VALUE\s+ID$/);
    else expect(lines[0]).not.toMatch(/\bID\b/);
  });

  it('audit, log, scan and help environment fit an 80-column terminal: no line wider, no word broken', async () => {
    const home = tempHome();
    const long = 'campaigns-for-the-spring-launch-in-europe-and-the-americas-2026';
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_NOW: '2026-01-01T00:00:00Z' });
    await runBin(['init'], { env });
    const value = (await runBin(['create', '--type', 's2s', '--name', long], { env })).stdout.trim();
    const later = { ...env, TOKENCTL_NOW: '2026-07-10T00:00:00Z' };
    expect((await runBin(['rotate', long], { env: later })).code).toBe(0);
    const names = (JSON.parse((await runBin(['list', '--json'], { env: later })).stdout) as { name: string }[]).map((t) => t.name);
    const leak = path.join(home, 'config', 'environments', 'production', 'services', 'events');
    mkdirSync(leak, { recursive: true });
    writeFileSync(path.join(leak, 'settings.yaml'), `token: ${value}\n`);
    const sized = `import fcntl, os, struct, sys, termios; fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0)); os.chdir(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])`;
    for (const args of [['audit'], ['log'], ['scan'], ['help', 'environment']]) {
      const r = spawnSync('python3', [PTY, '[]', '--', 'python3', '-c', sized, home, process.execPath, BIN, ...args], {
        env: { ...later, PATH: process.env.PATH!, TERM: 'xterm' },
        encoding: 'utf8',
        timeout: 40_000,
      });
      const screen = r.stdout.replace(/\u001b\[[0-9;]*m/g, '');
      expect(r.status === 0 || (args[0] === 'scan' && r.status === 6), screen + r.stderr).toBe(true);
      // The error line of scan is on stderr, and may be as long as it needs: the table is what must fit.
      const table = screen.split(/\r?\n/).filter((l) => !l.startsWith('error: '));
      for (const line of table) expect([...line].length, `${args.join(' ')}: ${line}`).toBeLessThanOrEqual(80);
      // The long names appear whole wherever they are not cut with "…" (in the commands they are always whole).
      const words = new Set(table.flatMap((l) => l.split(/\s+/)));
      for (const word of words) if (word.includes('campaigns')) expect(names.includes(word.replace(/^'|'$/g, '')) || word.includes('…'), word).toBe(true);
    }
  });

  it('asks only for a type with a free slot, and says why the others are not offered', async () => {
    const { env } = await account();
    await runBin(['create', '--type', 'api', '--name', 'second'], { env });
    const r = inPty(
      ['create'],
      [
        { expect: 'Token type', send: '\r' }, // the first choice offered: onelink, since api is full
        { expect: 'Token name', send: 'campaigns\r' },
      ],
      env,
    );
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.screen).toMatch(/Not offered: api \(it already has 2 live tokens \('default' and 'second'\)/);
    expect(r.screen).toMatch(/Created onelink token 'campaigns'/);
  });

  it('asks for the type and name of a new token on a terminal', async () => {
    const { env } = await account();
    const r = inPty(
      ['create'],
      [
        { expect: 'Token type', send: '\u001b[B\r' }, // arrow down: onelink
        { expect: 'Token name', send: 'campaigns\r' },
      ],
      env,
    );
    expect(r.code, r.screen + r.stderr).toBe(0);
    expect(r.screen).toMatch(/tctl_ol_\w{34}/);
    expect(r.screen).toMatch(/Created onelink token 'campaigns'/);
  });
});
