import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';
import { renderTokenTable } from '../../src/ui/render.js';
import { plainStyle, colorEnabled } from '../../src/ui/io.js';
import { toTokenView, type TokenRecord } from '../../src/core/tokens.js';

const MIN = 60_000;

describe('a deleted token, asked for by name', () => {
  it('says when it was deleted and from when it is rejected, and never gives its value', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 's2s', '--name', 'events']);
    cli.clock.advance(31 * MIN);
    expect((await cli.run(['delete', 'events', '--confirm', 'Delete token'])).code).toBe(0);
    const r = await cli.run(['get', 'events']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: s2s token 'events' \(tok_\w+\) was deleted at 2026-06-01 12:31 UTC; calls made with it are rejected from 2026-06-01 13:01 UTC\. Its value can no longer be retrieved/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // The same for rename and a pending token deleted before it ever became active.
    await cli.run(['create', '--type', 's2s', '--name', 'soon']);
    await cli.run(['delete', 'soon', '--confirm', 'Delete token']);
    expect((await cli.run(['rename', 'soon', 'later'])).stderr).toMatch(/'soon' .* was deleted at .*; it was still pending, so it never became active/);
  });
});

describe('interactive create', () => {
  it('offers only the types with a free slot, and says why the others are not offered, before asking a name', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 'api', '--name', 'second']);
    const r = await cli.run(['create'], { tty: true, answers: ['api'] });
    // the strict fake refuses an answer that is not among the choices: api is not offered
    expect(r.code).toBe(1);
    expect(r.asked).toEqual(['Token type']);
    const ok = await cli.run(['create'], { tty: true, answers: ['s2s', 'events'] });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/Not offered: api \(it already has 2 live tokens \('default' and 'second'\); delete one of them first/);
  });

  it('with every type full, says so before asking anything (exit 4)', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    for (const [t, n] of [['api', 'a2'], ['onelink', 'o1'], ['onelink', 'o2'], ['s2s', 's1'], ['s2s', 's2']]) await cli.run(['create', '--type', t!, '--name', n!]);
    const r = await cli.run(['create'], { tty: true, answers: [] });
    expect(r.code).toBe(4);
    expect(r.asked).toEqual([]);
    expect(r.stderr).toMatch(/no type can be created now \(api: it already has 2 live tokens/);
  });
});

describe('list: a table that fits the terminal', () => {
  const now = new Date('2026-06-01T12:00:00.000Z');
  const record = (name: string, type: TokenRecord['type'], extra: Partial<TokenRecord> = {}): TokenRecord => ({
    id: `tok_${name.padEnd(16, 'x').slice(0, 16)}`,
    name,
    type,
    createdAt: '2026-05-01T12:00:00.000Z',
    activatesAt: '2026-05-01T12:30:00.000Z',
    deletedAt: null,
    lastUsedAt: null,
    masked: type === 'api' ? 'eyJ…abcd' : `tctl_${type === 's2s' ? 's2s' : 'ol'}_…wxyz`,
    ...extra,
  });
  const views = [
    record('default', 'api', { lastUsedAt: '2026-05-30T08:00:00.000Z' }),
    record('events-production', 's2s'),
    record('campaigns', 'onelink', { createdAt: '2026-06-01T11:50:00.000Z', activatesAt: '2026-06-01T12:20:00.000Z' }),
    record('old', 's2s', { deletedAt: '2026-06-01T11:59:00.000Z' }),
  ].map((t) => toTokenView(t, now));
  const widest = (text: string) => Math.max(...text.trimEnd().split('\n').map((l) => [...l].length));

  it.each([80, 120, 60, 40])('never exceeds %i columns, one line per token, no rules', async (width) => {
    const text = await renderTokenTable(views, now, plainStyle, { width, tracksUsage: true });
    expect(widest(text)).toBeLessThanOrEqual(width);
    expect(text.trimEnd().split('\n')).toHaveLength(1 + views.length);
    expect(text).not.toMatch(/[─┼│]/);
    for (const v of views) expect(text).toContain(v.type);
  });

  it('gives up columns in the documented order: CREATED, ID, VALUE, status details, LAST USED, AGE', async () => {
    const heads = async (width: number) => (await renderTokenTable(views, now, plainStyle, { width, tracksUsage: true })).split('\n')[0]!.split(/\s{2,}/);
    expect(await heads(200)).toEqual(['NAME', 'TYPE', 'STATUS', 'AGE', 'CREATED', 'LAST USED', 'VALUE', 'ID']);
    expect(await heads(120)).toEqual(['NAME', 'TYPE', 'STATUS', 'AGE', 'LAST USED', 'VALUE', 'ID']);
    expect(await heads(80)).toEqual(['NAME', 'TYPE', 'STATUS', 'AGE', 'LAST USED']);
    const narrow = await renderTokenTable(views, now, plainStyle, { width: 80, tracksUsage: true });
    expect(narrow).toMatch(/pending \(active in 20m\)/);
    expect(await heads(70)).toEqual(['NAME', 'TYPE', 'STATUS', 'AGE', 'LAST USED']);
    expect(await renderTokenTable(views, now, plainStyle, { width: 60, tracksUsage: true })).toMatch(/campaigns\s+onelink\s+pending 20m/);
    expect(await heads(40)).toEqual(['NAME', 'TYPE', 'STATUS']);
  });

  it('shows LAST USED only where the backend tracks use, with never for a token never used', async () => {
    const tracked = await renderTokenTable(views, now, plainStyle, { width: 120, tracksUsage: true });
    expect(tracked).toMatch(/default\s+api\s+active\s+31d\s+2026-05-30/);
    expect(tracked).toMatch(/events-production\s+s2s\s+active\s+31d\s+never/);
    const local = await renderTokenTable(views, now, plainStyle, { width: 120, tracksUsage: false });
    expect(local).not.toMatch(/LAST USED|never|unknown/);
  });

  it('list on a local store (in-process) uses COLUMNS when the terminal does not say, and has no LAST USED', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 's2s', '--name', 'events']);
    const r = await cli.run(['list'], { tty: true, env: { COLUMNS: '80' } });
    expect(widest(r.stdout)).toBeLessThanOrEqual(80);
    expect(r.stdout).not.toMatch(/LAST USED/);
  });
});

describe('colour switches', () => {
  it('NO_COLOR turns colour off; FORCE_COLOR and CLICOLOR_FORCE force it, even off a terminal', () => {
    expect(colorEnabled({}, true)).toBe(true);
    expect(colorEnabled({}, false)).toBe(false);
    expect(colorEnabled({ NO_COLOR: '1' }, true)).toBe(false);
    expect(colorEnabled({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(colorEnabled({ FORCE_COLOR: '' }, false)).toBe(true);
    expect(colorEnabled({ FORCE_COLOR: '0' }, true)).toBe(false);
    expect(colorEnabled({ CLICOLOR_FORCE: '1' }, false)).toBe(true);
    expect(colorEnabled({ CLICOLOR_FORCE: '0' }, false)).toBe(false);
    expect(colorEnabled({ CLICOLOR_FORCE: '1', NO_COLOR: '1' }, false)).toBe(true);
  });
});

describe('help, version and the flags other tools take', () => {
  it('help environment and help exit-codes print the tables; an unknown topic says so (exit 2)', async () => {
    const cli = testCli(tempHome());
    const env = await cli.run(['help', 'environment']);
    expect(env.code).toBe(0);
    for (const v of ['TOKENCTL_HOME', 'TOKENCTL_PROFILE', 'TOKENCTL_MASTER_KEY', 'TOKENCTL_NOW', 'TOKENCTL_SERVER', 'TOKENCTL_ADMIN_KEY', 'TOKENCTL_DATABASE_URL', 'TOKENCTL_SERVER_KEY', 'NO_COLOR', 'FORCE_COLOR']) {
      expect(env.stdout).toMatch(new RegExp(`^${v}\\b`, 'm'));
    }
    const codes = await cli.run(['help', 'exit-codes']);
    expect(codes.code).toBe(0);
    for (let c = 0; c <= 10; c++) expect(codes.stdout).toMatch(new RegExp(`^${c}\\s+\\S`, 'm'));
    expect(codes.stdout).toMatch(/^10\s+cancelled by the user/m);
    const unknown = await cli.run(['help', 'colours']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("error: no help topic or command 'colours'; topics: environment, exit-codes; commands: tokenctl --help\n");
    expect((await cli.run(['help', 'list'])).stdout).toMatch(/Usage: tokenctl list/);
    expect((await cli.run(['--help'])).stdout).toMatch(/Help topics: tokenctl help environment, tokenctl help exit-codes/);
  });

  it('version prints the version', async () => {
    const cli = testCli(tempHome());
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    expect((await cli.run(['version'])).stdout).toBe(`tokenctl ${pkg.version}\n`);
    expect(JSON.parse((await cli.run(['version', '--json'])).stdout)).toEqual({ version: pkg.version });
  });

  it.each([['delete', 'default', '--yes'], ['delete', 'default', '-f'], ['rm', 'default', '--force'], ['rotate', 'default', '--yes']])('%s %s %s says deletion needs --confirm "Delete token"', async (...argv) => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --(yes|force) is not accepted: .* pass --confirm "Delete token"; nothing was changed\n$/);
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toHaveLength(1);
  });

  it('--format ignores case, like --type', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    expect((await cli.run(['list', '--format', 'CSV'])).stdout).toMatch(/^id,name,type/);
    expect((await cli.run(['list', '--format', 'JSON'])).code).toBe(0);
    expect((await cli.run(['audit', '--format', 'Markdown'])).code).toBe(0);
    const dir = path.join(tempHome(), 'src');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a.txt'), 'nothing here\n');
    expect((await cli.run(['scan', dir, '--format', 'JSON'])).stdout).toBe('[]\n');
    expect((await cli.run(['scan', dir, '--format', 'XML'])).code).toBe(2);
  });

  it('usage errors are one line, with the suggestion', async () => {
    const cli = testCli(tempHome());
    for (const argv of [['lst'], ['list', '--bogus'], ['get'], ['get', 'a', 'b']]) {
      const r = await cli.run(argv);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n').filter(Boolean), argv.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/\(run with --help for usage\)\n$/);
    }
    expect((await cli.run(['get', 'default', '--output-fil', 'x'])).stderr).toMatch(/; did you mean --output-file\? \(run with --help/);
  });
});

describe('messages', () => {
  it('an empty profile says to init that profile', async () => {
    const cli = testCli(tempHome());
    const r = await cli.run(['--profile', 'staging', 'list']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/create one with: tokenctl --profile staging init\n$/);
    expect((await cli.run(['list'])).stderr).toMatch(/create one with: tokenctl init\n$/);
  });

  it('scan counts the files the tokens are in, and says where to remove them from', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['create', '--type', 's2s', '--name', 'leak'])).stdout.trim();
    const dir = path.join(tempHome(), 'repo');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a.env'), `A=${value}\nB=${value}\n`);
    writeFileSync(path.join(dir, 'b.txt'), 'clean\n');
    writeFileSync(path.join(dir, 'c.txt'), 'clean\n');
    const r = await cli.run(['scan', dir]);
    expect(r.code).toBe(6);
    // the same token twice is one exposed token, not two
    expect(r.stderr).toMatch(/found 2 tokenctl tokens in 1 of 3 files \(2 occurrences of 1 live token of this account\); remove them from that file, and replace/);
    const other = (await cli.run(['create', '--type', 's2s', '--name', 'leak2'])).stdout.trim();
    writeFileSync(path.join(dir, 'b.txt'), `C=${other}\n`);
    expect((await cli.run(['scan', dir])).stderr).toMatch(/found 3 tokenctl tokens in 2 of 3 files \(3 occurrences of 2 live tokens of this account\); remove them from those files/);
    const stdin = await cli.run(['scan', '--stdin'], { stdin: `x ${value}\n` });
    expect(stdin.stderr).toMatch(/found 1 tokenctl token in standard input \(1 live token of this account\); remove it from wherever that input came from/);
    expect(stdin.stderr).not.toContain(value);
  });
});

describe('logout and profile remove', () => {
  function serverProfile(home: string, name: string, extra: Record<string, unknown> = {}) {
    writeFileSync(
      path.join(home, 'config.json'),
      JSON.stringify({ ...extra, profiles: { [name]: { server: 'http://127.0.0.1:9', credentialStore: 'file' } } }),
    );
    mkdirSync(path.join(home, 'credentials'), { recursive: true });
    writeFileSync(path.join(home, 'credentials', name), 'adm_credential_for_test\n', { mode: 0o600 });
  }

  it('logout removes the saved credential file and keeps the server; a second logout says it is already done', async () => {
    const home = tempHome();
    const cli = testCli(home);
    serverProfile(home, 'work');
    const r = await cli.run(['logout', '--profile', 'work']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Logged out of http:\/\/127\.0\.0\.1:9: the credential of profile 'work' was removed from .*credentials\/work/);
    expect(r.stderr).toMatch(/stays valid on the service until an operator removes it/);
    expect(r.stderr).not.toContain('adm_credential_for_test');
    expect(existsSync(path.join(home, 'credentials', 'work'))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8')).profiles.work.server).toBe('http://127.0.0.1:9');
    const again = await cli.run(['logout', '--profile', 'work']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already logged out/);
    const local = await cli.run(['logout']);
    expect(local.code).toBe(3);
    expect(local.stderr).toMatch(/profile 'default' is not logged in to a token service/);
  });

  it('profile remove forgets a service profile and its credential, clears the selection, and never deletes a local store', async () => {
    const home = tempHome();
    const cli = testCli(home);
    serverProfile(home, 'work', { currentProfile: 'work' });
    const r = await cli.run(['profile', 'remove', 'work']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Removed profile 'work' \(http:\/\/127\.0\.0\.1:9; its credential was removed from/);
    expect(r.stderr).toMatch(/it was the selected profile; commands now use 'default'/);
    const config = JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8'));
    expect(config.profiles).toEqual({});
    expect(config.currentProfile).toBeUndefined();
    expect(existsSync(path.join(home, 'credentials', 'work'))).toBe(false);
    expect((await cli.run(['profile', 'remove', 'work'])).code).toBe(3);

    await cli.run(['init']);
    const store = await cli.run(['profile', 'remove', 'default']);
    expect(store.code).toBe(4);
    expect(store.stderr).toMatch(/is a local store in .*; tokenctl never deletes a store/);
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toHaveLength(1);
  });
});
