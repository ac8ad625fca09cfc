import { describe, expect, it } from 'vitest';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

describe('init', () => {
  it('creates the account with an active default API token; a second init is a conflict', async () => {
    const cli = testCli(tempHome());
    const first = await cli.run(['init', '--json']);
    expect(first.code).toBe(0);
    const out = JSON.parse(first.stdout);
    expect(out.account.name).toBe('default');
    expect(out.tokens).toMatchObject([{ name: 'default', type: 'api', status: 'active' }]);
    expect(first.stderr).toMatch(/Created account/);
    const second = await cli.run(['init']);
    expect(second).toMatchObject({ code: 4, stdout: '' });
    expect(second.stderr).toMatch(/^error: an account already exists/);
  });

  it('--no-default-token starts with no token; --account names the account', async () => {
    const cli = testCli(tempHome());
    const r = await cli.run(['init', '--account', 'acme', '--no-default-token', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ account: { name: 'acme' }, tokens: [] });
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toEqual([]);
  });

  it.each([['list'], ['get', 'x'], ['create', '--type', 'api', '--name', 'x'], ['rename', 'a', 'b'], ['delete', 'a', '--confirm', 'Delete token']])(
    '%s on an uninitialised store says to run tokenctl init (exit 3)',
    async (...argv) => {
      const r = await testCli(tempHome()).run(argv);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/run: tokenctl init|with: tokenctl init/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    },
  );
});

describe('create', () => {
  it('prints only the value on stdout and the pending time on stderr', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['create', '--type', 's2s', '--name', 'events']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tctl_s2s_[0-9A-Za-z]{34}\n$/);
    expect(r.stderr).toMatch(/pending until 2026-06-01 12:30 UTC \(in 30m\)/);
    expect(r.stderr).not.toContain(r.stdout.trim());
  });

  it('--json gives the token object with its value', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['create', '--type', 'onelink', '--name', 'links', '--json']);
    const o = JSON.parse(r.stdout);
    expect(o).toMatchObject({ name: 'links', type: 'onelink', status: 'pending', activatesAt: '2026-06-01T12:30:00.000Z' });
    expect(o.value).toMatch(/^tctl_ol_/);
  });

  it('refuses a third token of a type (exit 4), naming the existing ones and how to free a slot', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 'api', '--name', 'second']);
    const r = await cli.run(['create', '--type', 'api', '--name', 'third']);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/type api already has 2 live tokens \('default' and 'second'\); delete one first/);
  });

  it.each([
    [['create', '--name', 'x'], /--type/],
    [['create', '--type', 's2s'], /--name/],
    [['create'], /--type/],
  ])('without a terminal, a missing option is a usage error naming the flag: %j', async (argv, flag) => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(flag);
    expect(r.asked).toEqual([]);
  });

  it('on a terminal, asks for the missing type and name', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['create'], { tty: true, answers: ['onelink', 'campaigns'] });
    expect(r.code).toBe(0);
    expect(r.asked).toEqual(['Token type', 'Token name']);
    expect(r.stdout).toMatch(/^tctl_ol_/);
  });

  it('Ctrl-C in a prompt cancels with exit 10 and creates nothing', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['create', '--type', 's2s'], { tty: true, answers: [{ cancel: true }] });
    expect(r.code).toBe(10);
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toHaveLength(1);
  });

  it.each([
    [['create', '--type', 'root', '--name', 'x'], /unknown token type 'root'/],
    [['create', '--type', 'api', '--name', 'a\u001b]0;pwned\u0007'], /control characters/],
    [['create', '--type', 'api', '--name', 'x'.repeat(65)], /at most 64/],
    [['create', '--type', 'api', '--name', 'DEFAULT'], /already exists/],
  ])('rejects bad input with one clear line: %j', async (argv, message) => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(argv);
    expect(r.code).toBe(argv.includes('DEFAULT') ? 4 : 2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain('\u001b');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('list', () => {
  async function account() {
    const cli = testCli(tempHome(), '2026-01-01T00:00:00.000Z');
    await cli.run(['init']);
    cli.clock.advance(10 * DAY);
    await cli.run(['create', '--type', 's2s', '--name', 'events']);
    return cli;
  }

  it('prints the JSON shape of the contract with masked values only', async () => {
    const cli = await account();
    const value = (await cli.run(['get', 'default'])).stdout;
    const r = await cli.run(['list', '--json']);
    const list = JSON.parse(r.stdout);
    expect(list.map((t: { name: string }) => t.name)).toEqual(['default', 'events']);
    expect(Object.keys(list[0])).toEqual(['id', 'name', 'type', 'status', 'stale', 'createdAt', 'activatesAt', 'deletedAt', 'rejectedAt', 'ageDays', 'rotateBy', 'lastUsedAt', 'masked']);
    expect(list[0]).toMatchObject({ ageDays: 10, status: 'active', stale: false, masked: `eyJ…${value.slice(-4)}` });
    expect(r.stdout).not.toContain(value);
    expect((await cli.run(['list', '--format', 'json'])).stdout).toBe(r.stdout);
  });

  it('renders a table on a terminal with "active in" for pending tokens', async () => {
    const cli = await account();
    cli.clock.advance(12 * MIN);
    const r = await cli.run(['list'], { tty: true, env: { COLUMNS: '120' } });
    expect(r.stdout).toMatch(/NAME.*TYPE.*STATUS.*AGE.*CREATED/);
    expect(r.stdout).toMatch(/events.*s2s.*pending \(active in 18m\)/);
    expect(r.stdout).toMatch(/tctl_s2s_…/);
  });

  it('prints parseable lines to a pipe, and CSV on request', async () => {
    const cli = await account();
    const tsv = (await cli.run(['list'])).stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(tsv.map((row) => [row[1], row[2], row[3]])).toEqual([
      ['default', 'api', 'active'],
      ['events', 's2s', 'pending'],
    ]);
    const csv = (await cli.run(['list', '--format', 'csv'])).stdout.trim().split('\n');
    expect(csv[0]).toBe('id,name,type,status,stale,createdAt,activatesAt,deletedAt,rejectedAt,ageDays,rotateBy,lastUsedAt,masked');
    expect(csv).toHaveLength(3);
  });

  it('filters by type, stale and all', async () => {
    const cli = await account();
    await cli.run(['delete', 'events', '--confirm', 'Delete token']);
    const names = async (...argv: string[]) => JSON.parse((await cli.run(['list', '--json', ...argv])).stdout).map((t: { name: string; status: string }) => `${t.name}:${t.status}`);
    expect(await names()).toEqual(['default:active']);
    expect(await names('--all')).toEqual(['default:active', 'events:draining']);
    expect(await names('--all', '--type', 's2s')).toEqual(['events:draining']);
    cli.clock.advance(30 * MIN);
    expect(await names('--all', '--type', 's2s')).toEqual(['events:revoked']);
    expect(await names('--stale')).toEqual([]);
    cli.clock.advance(171 * DAY);
    expect(await names('--stale')).toEqual(['default:active']);
  });

  it('flags stale tokens in the table and names each in a warning on stderr that says how to rotate', async () => {
    const cli = await account();
    cli.clock.advance(175 * DAY); // default is 185 days old, events 175
    const r = await cli.run(['list'], { tty: true });
    expect(r.stdout).toMatch(/default.*STALE/);
    expect(r.stdout).not.toMatch(/events.*STALE/);
    expect(r.stderr).toMatch(/warning: api token 'default' is 185 days old .*tokenctl rotate default/);
    expect(r.stderr).not.toMatch(/'events'/);
    const json = await cli.run(['list', '--json']);
    expect(JSON.parse(json.stdout)[0].stale).toBe(true);
    expect(json.stderr).toMatch(/'default' is 185 days old/);
  });

  it('rejects an unknown format or type (exit 2)', async () => {
    const cli = await account();
    expect((await cli.run(['list', '--format', 'xml'])).code).toBe(2);
    expect((await cli.run(['list', '--type', 'xml'])).code).toBe(2);
  });
});

describe('get', () => {
  it('prints exactly the value to a pipe, with a newline only on a terminal', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const piped = await cli.run(['get', 'default']);
    expect(piped.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(piped.stderr).toBe('');
    expect((await cli.run(['get', 'default'], { tty: true })).stdout).toBe(`${piped.stdout}\n`);
  });

  it('refuses a pending token with exit 5 unless --allow-pending, and never prints an empty value', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const created = (await cli.run(['create', '--type', 's2s', '--name', 'ci'])).stdout.trim();
    const refused = await cli.run(['get', 'ci']);
    expect(refused).toMatchObject({ code: 5, stdout: '' });
    expect(refused.stderr).toMatch(/pending until .*--allow-pending/);
    expect((await cli.run(['get', 'ci', '--allow-pending'])).stdout).toBe(created);
    cli.clock.advance(30 * MIN);
    expect((await cli.run(['get', 'CI'])).stdout).toBe(created);
    const json = JSON.parse((await cli.run(['get', 'ci', '--json'])).stdout);
    expect(json).toMatchObject({ name: 'ci', status: 'active', value: created });
  });

  it('a missing or deleted token is exit 3 with nothing on stdout', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    expect(await cli.run(['get', 'nope'])).toMatchObject({ code: 3, stdout: '' });
    const id = JSON.parse((await cli.run(['list', '--json'])).stdout)[0].id;
    await cli.run(['delete', 'default', '--confirm', 'Delete token']);
    const r = await cli.run(['get', id]);
    expect(r).toMatchObject({ code: 3, stdout: '' });
    expect(r.stderr).toMatch(/was deleted/);
  });

  it('never echoes a value, even in a --debug stack trace', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['get', 'default'])).stdout;
    for (const argv of [['--debug', 'create', '--type', value, '--name', 'x'], ['--debug', 'get', value], ['--debug', 'rename', 'default', value]]) {
      const r = await cli.run(argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/\n\s+at /); // the stack is there
      expect(r.stderr).not.toContain(value.slice(0, 30));
      expect(r.stderr).not.toContain('\u001b');
    }
  });

  it('refuses a token value passed as an argument without echoing it', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['get', 'default'])).stdout;
    const r = await cli.run(['get', value]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain(value);
    expect(r.stderr).not.toContain(value.slice(0, 40));
  });
});

describe('rename', () => {
  it('renames, keeps the value, and enforces unique valid names', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['get', 'default'])).stdout;
    const r = await cli.run(['rename', 'default', 'reporting', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).name).toBe('reporting');
    expect((await cli.run(['get', 'reporting'])).stdout).toBe(value);
    await cli.run(['create', '--type', 's2s', '--name', 'events']);
    expect((await cli.run(['rename', 'events', 'REPORTING'])).code).toBe(4);
    expect((await cli.run(['rename', 'events', '\u202eevil'])).code).toBe(2);
    expect((await cli.run(['rename', 'nope', 'x'])).code).toBe(3);
    expect((await cli.run(['rename', 'events'])).code).toBe(2);
  });
});

describe('delete', () => {
  async function withTwo() {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 's2s', '--name', 'events']);
    return cli;
  }

  it('without a terminal, requires --confirm with the exact phrase; nothing is deleted otherwise', async () => {
    const cli = await withTwo();
    for (const argv of [['delete', 'events'], ['delete', 'events', '--confirm', 'delete token'], ['delete', 'events', '--confirm', 'yes']]) {
      const r = await cli.run(argv);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--confirm "Delete token"|exactly "Delete token"/);
    }
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toHaveLength(2);
    const ok = await cli.run(['delete', 'events', '--confirm', 'Delete token', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'events', status: 'draining', rejectedAt: '2026-06-01T12:30:00.000Z' });
  });

  it('on a terminal, shows the token and asks for the phrase; anything else cancels with exit 10', async () => {
    const cli = await withTwo();
    for (const answer of ['delete token', 'Delete token ', 'y', '']) {
      const r = await cli.run(['delete', 'events'], { tty: true, answers: [answer] });
      expect(r.code).toBe(10);
      expect(r.stderr).toMatch(/nothing was deleted/);
    }
    const ctrlC = await cli.run(['delete', 'events'], { tty: true, answers: [{ cancel: true }] });
    expect(ctrlC.code).toBe(10);
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toHaveLength(2);
    const r = await cli.run(['delete', 'events'], { tty: true, answers: ['Delete token'] });
    expect(r.code).toBe(0);
    expect(r.asked).toEqual(['Type "Delete token" to delete it (anything else cancels)']);
    expect(r.stderr).toMatch(/About to delete s2s token 'events'/);
    expect(r.stderr).toMatch(/Last used: unknown \(a local store cannot see where tokens are used\)/);
    expect(JSON.parse((await cli.run(['list', '--json'])).stdout)).toHaveLength(1);
  });

  it('warns when deleting the last active token of its type', async () => {
    const cli = await withTwo();
    const r = await cli.run(['delete', 'default'], { tty: true, answers: ['Delete token'] });
    expect(r.stderr).toMatch(/warning: this is the last active API token: systems that depend on it will fail/);
    const other = await cli.run(['delete', 'events'], { tty: true, answers: ['Delete token'] });
    // events is pending: it is not "the last active" one; what is true is that no s2s token is, or will be, active
    expect(other.stderr).not.toMatch(/last active/);
    expect(other.stderr).toMatch(/warning: no s2s token is active, and this pending one is the only one that would become active/);
  });

  it('says nothing about the type when another token of it stays active; names a pending replacement when none does', async () => {
    const cli = await withTwo();
    cli.clock.advance(31 * MIN); // events is active
    await cli.run(['create', '--type', 's2s', '--name', 'events-next']);
    const next = await cli.run(['delete', 'events-next'], { tty: true, answers: ['Delete token'] });
    expect(next.stderr).not.toMatch(/warning/);
    await cli.run(['create', '--type', 's2s', '--name', 'events-2']);
    const last = await cli.run(['delete', 'events'], { tty: true, answers: ['Delete token'] });
    expect(last.stderr).toMatch(/warning: this is the last active S2S token \('events-2' is pending until 2026-06-01 13:01 UTC\)/);
  });

  it('says what deletion means: a pending token never becomes active, an active one keeps working while it drains', async () => {
    const cli = await withTwo();
    const pending = await cli.run(['delete', 'events'], { tty: true, answers: ['Delete token'] });
    expect(pending.stderr).toMatch(/It is still pending: once deleted, it never becomes active\./);
    expect(pending.stderr).toMatch(/Deleted s2s token 'events' \([^)]*\)\. It was still pending, so it never becomes active\./);
    expect(pending.stderr).not.toMatch(/keep working|rejected from/);
    const all = await cli.run(['list', '--all'], { tty: true, env: { COLUMNS: '160' } });
    expect(all.stdout).toMatch(/draining \(deleted while pending: never active\)/);
    const audit = JSON.parse((await cli.run(['audit', '--format', 'json'])).stdout);
    expect(JSON.stringify(audit)).toMatch(/deleted while pending; it never becomes active/);

    const active = await cli.run(['delete', 'default'], { tty: true, answers: ['Delete token'] });
    expect(active.stderr).toMatch(/Calls made with it keep working for up to 30 min after deletion \(until about \d{4}-\d\d-\d\d \d\d:\d\d UTC\), then are rejected\./);
    expect(active.stderr).toMatch(/Calls made with it keep working until 2026-06-01 12:30 UTC, then are rejected\./);
  });

  it('a deleted token leaves list, drains under --all, then is revoked, and frees its slot', async () => {
    const cli = await withTwo();
    await cli.run(['create', '--type', 's2s', '--name', 'events-2']);
    expect((await cli.run(['create', '--type', 's2s', '--name', 'events-3'])).code).toBe(4);
    await cli.run(['delete', 'events', '--confirm', 'Delete token']);
    expect((await cli.run(['create', '--type', 's2s', '--name', 'events-3'])).code).toBe(0);
    const all = JSON.parse((await cli.run(['list', '--all', '--json', '--type', 's2s'])).stdout);
    expect(all.map((t: { status: string }) => t.status)).toEqual(['draining', 'pending', 'pending']);
  });
});

describe('global behaviour', () => {
  it('--help lists the commands and each command help ends with examples', async () => {
    const cli = testCli(tempHome());
    const r = await cli.run(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['init', 'create', 'list', 'get', 'rename', 'delete']) expect(r.stdout).toContain(c);
    for (const c of ['init', 'create', 'list', 'get', 'rename', 'delete']) {
      expect((await cli.run([c, '--help'])).stdout).toMatch(/Examples:\n(\s+\$ .*tokenctl .*\n){2,}/);
    }
  });

  it('an unknown command or option is a usage error (exit 2) with a suggestion', async () => {
    const cli = testCli(tempHome());
    const r = await cli.run(['lst']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: unknown command 'lst'; did you mean (one of )?list.*\? \(run with --help for usage\)\n$/);
    expect((await cli.run(['list', '--bogus'])).code).toBe(2);
  });

  it('profiles are separate accounts', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    expect((await cli.run(['--profile', 'staging', 'list'])).code).toBe(3);
    await cli.run(['init', '--profile', 'staging', '--no-default-token']);
    expect(JSON.parse((await cli.run(['list', '--json', '--profile', 'staging'])).stdout)).toEqual([]);
    expect((await cli.run(['--profile', '../etc', 'list'])).code).toBe(2);
  });
});
