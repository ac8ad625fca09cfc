// Messages that say what is true (issue 22): an empty listing because of a filter, the next step for a stale token
// when its type is full, ...
import { describe, expect, it } from 'vitest';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';

const DAY = 24 * 3_600_000;

describe('list with a filter that matches nothing', () => {
  it('says that no token matches the filter, how many there are, and how to see them', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init', '--no-default-token']);
    expect((await cli.run(['list'], { tty: true })).stdout).toBe('No tokens. Create one with: tokenctl create --type api --name <name>\n');
    expect((await cli.run(['list', '--stale'], { tty: true })).stdout).toBe('No tokens. Create one with: tokenctl create --type api --name <name>\n');
    await cli.run(['create', '--type', 'api', '--name', 'default']);
    await cli.run(['create', '--type', 'api', '--name', 'reporting']);
    await cli.run(['create', '--type', 's2s', '--name', 'events']);
    await cli.run(['create', '--type', 's2s', '--name', 'billing']);
    const stale = await cli.run(['list', '--stale'], { tty: true });
    expect(stale).toMatchObject({ code: 0, stdout: 'No token matches --stale (4 live tokens in all; see them with: tokenctl list).\n', stderr: '' });
    expect((await cli.run(['list', '--type', 'onelink', '--stale'], { tty: true })).stdout).toBe(
      'No token matches --type onelink --stale (4 live tokens in all; see them with: tokenctl list).\n',
    );
    expect((await cli.run(['--profile', 'default', 'list', '--all', '--type', 'ONELINK'], { tty: true })).stdout).toBe(
      'No token matches --type onelink (4 tokens in all, deleted ones included; see them with: tokenctl list --all).\n',
    );
    // Scripts see what they always saw: nothing, or an empty array.
    expect((await cli.run(['list', '--stale'])).stdout).toBe('');
    expect((await cli.run(['list', '--stale', '--json'])).stdout).toBe('[]\n');
  });

  it('with only deleted tokens, says so rather than "no tokens"', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['delete', 'default', '--confirm', 'Delete token']);
    expect((await cli.run(['list'], { tty: true })).stdout).toBe('No live tokens (1 deleted: tokenctl list --all). Create one with: tokenctl create --type api --name <name>\n');
  });

  it('run through npx, names the commands as npx tokenctl ...', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['list', '--stale'], { tty: true, env: { npm_command: 'exec' } });
    expect(r.stdout).toBe('No token matches --stale (1 live token in all; see them with: npx tokenctl list).\n');
  });
});

describe('the stale warning', () => {
  /** default (api) 200 days old; `extra` more api tokens made along the way. */
  async function staleDefault(extra: (cli: ReturnType<typeof testCli>) => Promise<void> = async () => undefined) {
    const cli = testCli(tempHome(), '2026-01-01T00:00:00.000Z');
    await cli.run(['init']);
    cli.clock.advance(200 * DAY);
    await extra(cli);
    const r = await cli.run(['list']);
    const warning = r.stderr.split('\n').find((l) => l.includes("'default' is 200 days old"));
    expect(warning, r.stderr).toBeDefined();
    return { cli, warning: warning! };
  }

  it('advises rotate when a slot is free, and rotate then works', async () => {
    const { cli, warning } = await staleDefault();
    expect(warning).toMatch(/; replace it safely with: tokenctl rotate default$/);
    expect((await cli.run(['rotate', 'default'])).code).toBe(0);
  });

  it('when the type is full, never advises a bare rotate (exit 4): what frees a slot, or the other token as the replacement', async () => {
    const { cli, warning } = await staleDefault(async (c) => void (await c.run(['create', '--type', 'api', '--name', 'reporting'])));
    expect(warning).not.toMatch(/replace it safely with: tokenctl rotate default$/);
    expect(warning).toMatch(
      /its type has no free slot, so rotate cannot replace it yet: if 'reporting' \(pending until [^)]+\) replaces 'default', put it in place, then run: tokenctl delete default; if not, free a slot with: tokenctl delete reporting \(once nothing uses it\), then run: tokenctl rotate default$/,
    );
    expect((await cli.run(['rotate', 'default'])).code).toBe(4); // what a bare rotate would have done
    // Following the advice works: free the slot, then rotate.
    expect((await cli.run(['delete', 'reporting', '--confirm', 'Delete token'])).code).toBe(0);
    expect((await cli.run(['rotate', 'default'])).code).toBe(0);
  });

  it('when a rotation of it is under way, says so and how to finish it', async () => {
    const { cli, warning } = await staleDefault(async (c) => void (await c.run(['rotate', 'default', '--name', 'next'])));
    expect(warning).toMatch(/its replacement 'next' is already under way \(rotation rot_\w+, delivered\): finish that rotation with: tokenctl rotate default --resume$/);
    cli.clock.advance(31 * 60_000);
    expect((await cli.run(['rotate', 'default', '--resume', '--confirm', 'Delete token'])).code).toBe(0);
  });

  it('audit names the same next step', async () => {
    const { cli } = await staleDefault(async (c) => void (await c.run(['create', '--type', 'api', '--name', 'reporting'])));
    const report = JSON.parse((await cli.run(['audit', '--json'])).stdout) as { findings: { kind: string; name: string; action: string }[] };
    expect(report.findings.find((f) => f.kind === 'stale' && f.name === 'default')?.action).toBe(
      "no free api slot: tokenctl delete default if 'reporting' replaces it, else tokenctl delete reporting then tokenctl rotate default",
    );
  });
});

describe('smaller wordings', () => {
  it('get --allow-pending reminds that the value does not work yet; stdout stays the value alone', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['create', '--type', 's2s', '--name', 'events'])).stdout.trim();
    const r = await cli.run(['get', 'events', '--allow-pending']);
    expect(r).toMatchObject({ code: 0, stdout: value });
    expect(r.stderr).toMatch(/^warning: s2s token 'events' \(tok_\w+\) is pending until 2026-06-01 12:30 UTC \(in 30m\): calls made with its value are rejected until then\n$/);
    cli.clock.advance(31 * 60_000);
    expect((await cli.run(['get', 'events', '--allow-pending'])).stderr).toBe(''); // active: nothing to remind
  });

  it('the type picker shows its descriptions in one column', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['create'], { tty: true, answers: ['s2s', 'events'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.choices[0]).toEqual(['api      API token', 'onelink  OneLink API token', 's2s      S2S token']);
    await cli.run(['create', '--type', 'onelink', '--name', 'a']);
    await cli.run(['create', '--type', 'onelink', '--name', 'b']);
    const fewer = await cli.run(['create'], { tty: true, answers: ['s2s', 'more'] });
    expect(fewer.choices[0]).toEqual(['api  API token', 's2s  S2S token']);
  });

  it('marks every success with the same check mark as an answered prompt (✔), never ✓', async () => {
    const cli = testCli(tempHome());
    const r = await cli.run(['init']);
    expect(r.stderr).toMatch(/^✔ Created account 'default'/);
    expect(r.stderr).not.toContain('✓');
  });

  it('a name clash names the token it clashes with, not only the name typed', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 's2s', '--name', 'Events-Prod']);
    const r = await cli.run(['create', '--type', 'api', '--name', 'events-prod']);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("error: 'events-prod' is taken: names ignore case, and a token named 'Events-Prod' already exists; choose another name\n");
    const renamed = await cli.run(['rename', 'default', 'Events-Prod']);
    expect(renamed.stderr).toBe("error: a token named 'Events-Prod' already exists; choose another name (names ignore case)\n");
  });

  it("init's next command is the one the user can run: in the profile used, through npx when run through npx", async () => {
    const home = tempHome();
    expect((await testCli(home).run(['init'])).stderr).toMatch(/Print it with: tokenctl get default\n$/);
    expect((await testCli(home).run(['--profile', 'staging', 'init'])).stderr).toMatch(/Print it with: tokenctl --profile staging get default\n$/);
    const npx = testCli(tempHome());
    expect((await npx.run(['init'], { env: { npm_command: 'exec' } })).stderr).toMatch(/Print it with: npx tokenctl get default\n$/);
    // Before init, through npx: the command that creates the account says npx too.
    const fresh = await testCli(tempHome()).run(['list'], { env: { npm_command: 'exec' } });
    expect(fresh.stderr).toMatch(/create one with: npx tokenctl init\n$/);
  });

  it('login asks for the credential saying once that the input is hidden', async () => {
    const cli = testCli(tempHome());
    const r = await cli.run(['login', '--server', 'http://127.0.0.1:9'], { tty: true, answers: ['tctl_key_notarealcredential'] });
    expect(r.asked).toEqual(['Admin credential for http://127.0.0.1:9']); // the prompt adds "(input hidden)" itself
    expect(r.code).toBe(8); // nothing listens there
  });
});
