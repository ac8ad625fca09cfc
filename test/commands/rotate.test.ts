import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

async function accountWithCi() {
  const home = tempHome();
  const cli = testCli(home, '2026-03-01T08:00:00.000Z');
  await cli.run(['init']);
  await cli.run(['create', '--type', 's2s', '--name', 'ci']);
  cli.clock.advance(31 * MIN);
  const oldValue = (await cli.run(['get', 'ci'])).stdout;
  return { home, cli, oldValue };
}

const names = async (cli: ReturnType<typeof testCli>, ...args: string[]) =>
  JSON.parse((await cli.run(['list', '--json', ...args])).stdout).map((t: { name: string; status: string }) => `${t.name}:${t.status}`);

describe('rotate', () => {
  it('without --wait: creates the replacement, prints its value, and says when and how to finish', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tctl_s2s_\w{34}\n$/);
    expect(r.stderr).toMatch(/created the replacement s2s token 'ci-20260301'/);
    expect(r.stderr).toMatch(/becomes active at 2026-03-01 09:01 UTC \(in 30m\)\. Then finish with: tokenctl rotate ci --resume/);
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-20260301:pending']);

    // Resuming too early never deletes the old token, and says so with exit 5: a script tells it from a finished one.
    const early = await cli.run(['rotate', 'ci', '--resume', '--confirm', 'Delete token']);
    expect(early.code).toBe(5);
    expect(early.stdout).toBe('');
    expect(early.stderr).toContain(
      "\nerror: the rotation of 'ci' cannot finish yet: 'ci-20260301' becomes active at 2026-03-01 09:01 UTC (in 30m), and the old token is never deleted " +
        'before its replacement is active; nothing was changed. Finish then with: tokenctl rotate ci --resume --confirm "Delete token" (or wait now: add --wait)\n',
    );
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-20260301:pending']);

    cli.clock.advance(31 * MIN);
    const done = await cli.run(['rotate', 'ci', '--resume', '--confirm', 'Delete token']);
    expect(done.code).toBe(0);
    expect(done.stdout).toBe('');
    expect(done.stderr).toMatch(/Rotated: 'ci-20260301' is active; 'ci' is deleted/);
    expect(await names(cli, '--all')).toEqual(['default:active', 'ci:draining', 'ci-20260301:active']);
  });

  it('--wait counts down on stderr, then asks for the typed phrase on a terminal', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci', '--wait', '--name', 'ci-next'], { tty: true, answers: ['Delete token'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting for 'ci-next' to become active at .*: 30m left/);
    expect(r.stderr).toMatch(/waiting for 'ci-next' .*: 1m left/);
    expect(r.asked).toEqual([`Type "Delete token" to delete 'ci' (anything else stops here; resume later)`]);
    expect(await names(cli)).toEqual(['default:active', 'ci-next:active']);
  });

  it('--wait without a terminal prints plain progress lines and needs --confirm to delete', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci', '--wait']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^waiting for 'ci-20260301' to become active at .*: 30m left$/m);
    expect(r.stderr).toMatch(/--resume --confirm "Delete token"/);
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-20260301:active']);
    expect((await cli.run(['rotate', 'ci', '--resume', '--confirm', 'Delete token'])).code).toBe(0);
    expect(await names(cli)).toEqual(['default:active', 'ci-20260301:active']);
  });

  it('a wrong phrase stops with exit 10 and keeps both tokens; resuming finishes', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci', '--wait'], { tty: true, answers: ['yes'] });
    expect(r.code).toBe(10);
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-20260301:active']);
    expect((await cli.run(['rotate', 'ci', '--resume'], { tty: true, answers: ['Delete token'] })).code).toBe(0);
  });

  it('--exec hands the value to the command in its environment, never in its arguments', async () => {
    const { cli, home } = await accountWithCi();
    const out = path.join(home, 'delivered.txt');
    const r = await cli.run(
      ['rotate', 'ci', '--exec', `printf '%s|%s|%s|%s|%s%s%s' "$TOKENCTL_TOKEN" "$TOKENCTL_TOKEN_NAME" "$TOKENCTL_TOKEN_TYPE" "$TOKENCTL_TOKEN_ID" "$TOKENCTL_MASTER_KEY" "$TOKENCTL_ADMIN_KEY" "$TOKENCTL_SERVER_KEY" > '${out}'`],
      { env: { TOKENCTL_ADMIN_KEY: 'admin-secret', TOKENCTL_SERVER_KEY: 'server-secret' } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    const [value, name, type, id, credentials] = readFileSync(out, 'utf8').split('|');
    expect(credentials).toBe(''); // tokenctl's own credentials never reach the child
    expect(value).toMatch(/^tctl_s2s_/);
    expect([name, type]).toEqual(['ci-20260301', 's2s']);
    expect(id).toMatch(/^tok_/);
    expect(r.stderr).not.toContain(value);
    cli.clock.advance(30 * MIN);
    expect((await cli.run(['get', 'ci-20260301'])).stdout).toBe(value);
  });

  it('a failing --exec stops the rotation with both tokens kept; resume delivers again', async () => {
    const { cli, home } = await accountWithCi();
    const failed = await cli.run(['rotate', 'ci', '--exec', 'exit 3']);
    expect(failed.code).toBe(8);
    expect(failed.stderr).toMatch(/exited with 3; the rotation stopped with both tokens kept/);
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-20260301:pending']);
    // Running rotate again resumes instead of creating a third token.
    const out = path.join(home, 'v.txt');
    const again = await cli.run(['rotate', 'ci', '--exec', `printf %s "$TOKENCTL_TOKEN" > '${out}'`, '--wait', '--confirm', 'Delete token']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Resuming rotation rot_\w+ of 'ci' \(started\)/);
    expect(await names(cli)).toEqual(['default:active', 'ci-20260301:active']);
    expect((await cli.run(['get', 'ci-20260301'])).stdout).toBe(readFileSync(out, 'utf8'));
  });

  it('refuses when no slot is free, changing nothing, and says what frees one', async () => {
    const { cli } = await accountWithCi();
    await cli.run(['create', '--type', 's2s', '--name', 'ci-spare']);
    const r = await cli.run(['rotate', 'ci']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no slot for a replacement; nothing was changed\. If 'ci-spare' \(pending until [^)]+\) replaces 'ci', put it in place, then run: tokenctl delete ci; if not, free a slot with: tokenctl delete ci-spare \(once nothing uses it\), then run: tokenctl rotate ci$/m);
    expect(r.stderr).not.toMatch(/nothing can depend on it/);
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-spare:pending']);
  });

  it('--json reports the journal (with the value when this run printed it)', async () => {
    const { cli } = await accountWithCi();
    const first = JSON.parse((await cli.run(['rotate', 'ci', '--json'])).stdout);
    expect(first.rotation).toMatchObject({ state: 'delivered', delivery: 'stdout', oldTokenId: first.old.id, newTokenId: first.replacement.id });
    expect(first.value).toMatch(/^tctl_s2s_/);
    cli.clock.advance(30 * MIN);
    const last = JSON.parse((await cli.run(['rotate', 'ci', '--resume', '--json', '--confirm', 'Delete token'])).stdout);
    expect(last.rotation).toMatchObject({ state: 'completed' });
    expect(last.old.status).toBe('draining');
    expect(last.value).toBeUndefined();
  });

  it('under GitHub Actions, registers the new value for masking before printing it', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci'], { env: { GITHUB_ACTIONS: 'true' } });
    const value = r.stdout.trim();
    expect(r.stderr.startsWith(`::add-mask::${value}\n`) || r.stderr.includes(`\n::add-mask::${value}\n`)).toBe(true);
    expect(r.stdout).toBe(`${value}\n`);
    const created = await cli.run(['create', '--type', 'api', '--name', 'x'], { env: { GITHUB_ACTIONS: 'true' } });
    expect(created.stderr.startsWith(`::add-mask::${created.stdout.trim()}\n`)).toBe(true);
    expect((await cli.run(['create', '--type', 'onelink', '--name', 'y'])).stderr).not.toContain('::add-mask::');
  });

  it('under GitHub Actions, registers the value for masking before an --exec command can print it', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci', '--exec', 'true'], { env: { GITHUB_ACTIONS: 'true' } });
    expect(r.code, r.stderr).toBe(0);
    const value = (await cli.run(['get', 'ci-20260301', '--allow-pending'])).stdout;
    const mask = r.stderr.indexOf(`::add-mask::${value}\n`);
    expect(mask).toBeGreaterThanOrEqual(0);
    expect(mask).toBeLessThan(r.stderr.indexOf('Step 2/3'));
  });

  it('--resume after the rotation completed says it is complete and which token replaced it', async () => {
    const { cli } = await accountWithCi();
    await cli.run(['rotate', 'ci', '--name', 'ci-next']);
    cli.clock.advance(31 * MIN);
    expect((await cli.run(['rotate', 'ci', '--resume', '--confirm', 'Delete token'])).code).toBe(0);
    for (const ref of ['ci', 'CI', 'ci-next']) {
      const again = await cli.run(['rotate', ref, '--resume']);
      expect(again.code, ref).toBe(0);
      expect(again.stderr).toMatch(/^rotation rot_\w+ of 'ci' is already complete: 'ci-next' replaced it on 2026-03-01 09:02 UTC; nothing left to do\n$/);
    }
    const json = JSON.parse((await cli.run(['rotate', 'ci', '--resume', '--json'])).stdout);
    expect(json.rotation.state).toBe('completed');
    expect(json.replacement.name).toBe('ci-next');
    // Without --resume, the deleted token cannot be rotated again; say what replaced it.
    const restart = await cli.run(['rotate', 'ci']);
    expect(restart.code).toBe(3);
    expect(restart.stderr).toMatch(/already complete: 'ci-next' replaced it .*; to replace 'ci-next' in turn, run: tokenctl rotate ci-next$/m);
    expect(await names(cli)).toEqual(['default:active', 'ci-next:active']);
  });

  it('the commands it prints to go on name the profile and quote names', async () => {
    const home = tempHome();
    const cli = testCli(home, '2026-03-01T08:00:00.000Z');
    await cli.run(['--profile', 'staging', 'init']);
    await cli.run(['--profile', 'staging', 'create', '--type', 's2s', '--name', 'ci deploy']);
    cli.clock.advance(31 * MIN);
    const r = await cli.run(['--profile', 'staging', 'rotate', 'ci deploy', '--name', 'next']);
    expect(r.stderr).toMatch(/Then finish with: tokenctl --profile staging rotate 'ci deploy' --resume$/m);
  });

  it('Ctrl-C at the typed phrase keeps the rotation and says how to resume', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci', '--wait'], { tty: true, answers: [{ cancel: true }] });
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/error: cancelled; the rotation is kept and 'ci' was not deleted\. Finish later with: tokenctl rotate ci --resume\n$/);
    expect(await names(cli)).toEqual(['default:active', 'ci:active', 'ci-20260301:active']);
  });

  it('--resume without an unfinished rotation is not found (exit 3)', async () => {
    const { cli } = await accountWithCi();
    const r = await cli.run(['rotate', 'ci', '--resume']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no unfinished rotation; start one with: tokenctl rotate ci/);
  });

  // An error thrown right after each step (the binary's tests in test/e2e/rotation.test.ts use a real kill -9).
  it.each(['started', 'delivered', 'completed'])('a failure right after "%s" resumes correctly', async (step) => {
    const { cli } = await accountWithCi();
    const crashed = await cli.run(['rotate', 'ci', '--wait', '--confirm', 'Delete token'], { crashAfter: step });
    expect(crashed.code).toBe(1); // the simulated crash
    const resumed = await cli.run(['rotate', 'ci-20260301', '--resume', '--wait', '--confirm', 'Delete token']);
    if (step === 'completed') {
      expect(resumed.code, resumed.stderr).toBe(0); // nothing left to do, and it says so
      expect(resumed.stderr).toMatch(/rotation rot_\w+ of 'ci' is already complete: 'ci-20260301' replaced it on 2026-03-01 09:01 UTC; nothing left to do/);
    } else {
      expect(resumed.code, resumed.stderr).toBe(0);
      // After 'started' the value was never delivered, so it is delivered (printed) again.
      expect(resumed.stdout === '').toBe(step !== 'started');
    }
    expect(await names(cli)).toEqual(['default:active', 'ci-20260301:active']);
    const events = JSON.parse((await cli.run(['log', '--json'])).stdout).map((e: { action: string }) => e.action);
    expect(events.filter((a: string) => a === 'rotation.complete')).toHaveLength(1);
    expect(events.filter((a: string) => a === 'token.create')).toHaveLength(3);
  });
});

describe('audit', () => {
  async function reviewed() {
    const { cli } = await accountWithCi();
    cli.clock.advance(100 * DAY);
    await cli.run(['create', '--type', 'onelink', '--name', 'links']);
    return cli;
  }

  it('renders a readable report with a one-line verdict, sorted by urgency', async () => {
    const cli = await reviewed();
    const r = await cli.run(['audit', '--as-of', '2026-09-01']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Security review as of 2026-09-01 00:00 UTC \(stale at 180 days/);
    expect(lines.at(-1)).toBe('FAIL: 2 stale tokens (older than 180 days); rotate them now');
    expect(r.stdout.indexOf('stale ')).toBeLessThan(r.stdout.indexOf('never-retrieved'));
  });

  it('exits 6 with --fail-on-stale when anything is stale, and 0 when nothing is', async () => {
    const cli = await reviewed();
    const failing = await cli.run(['audit', '--fail-on-stale', '--as-of', '2026-09-01']);
    expect(failing.code).toBe(6);
    expect(failing.stderr).toMatch(/2 stale tokens found/);
    expect((await cli.run(['audit', '--fail-on-stale', '--as-of', '2026-03-02'])).code).toBe(0);
    expect((await cli.run(['audit', '--fail-on-stale', '--as-of', '2026-09-01', '--max-age-days', '365'])).code).toBe(0);
  });

  it('json, csv and markdown formats carry the same findings', async () => {
    const cli = await reviewed();
    const json = JSON.parse((await cli.run(['audit', '--format', 'json', '--within', '90'])).stdout);
    expect(json).toMatchObject({ maxAgeDays: 180, withinDays: 90, ok: true });
    const kinds = json.findings.map((f: { kind: string; name: string }) => `${f.kind}:${f.name}`);
    expect(kinds).toEqual(['soon-stale:ci', 'soon-stale:default', 'pending:links', 'never-retrieved:default']);
    const csv = (await cli.run(['audit', '--format', 'csv', '--within', '90'])).stdout.trim().split('\n');
    expect(csv).toHaveLength(kinds.length + 1);
    expect(csv[0]).toBe('severity,kind,name,type,tokenId,ageDays,staleAt,message,action');
    const md = (await cli.run(['audit', '--format', 'markdown', '--within', '90'])).stdout;
    expect(md).toMatch(/^## Token security review/);
    expect(md).toMatch(/\| warning \| soon-stale \| default \| api \| 100 \|/);
  });

  it('reports unfinished rotations with the command that finishes them', async () => {
    const { cli } = await accountWithCi();
    await cli.run(['rotate', 'ci']);
    const json = JSON.parse((await cli.run(['audit', '--json'])).stdout);
    expect(json.findings[0]).toMatchObject({ kind: 'rotation-unfinished', name: 'ci', action: 'tokenctl rotate ci --resume' });
  });

  it('rejects bad options (exit 2)', async () => {
    const cli = await reviewed();
    for (const args of [['--as-of', 'soon'], ['--as-of', '2026-02-30'], ['--max-age-days', '0'], ['--max-age-days', '99999999999999999'], ['--within', '-1'], ['--format', 'xml']]) {
      expect((await cli.run(['audit', ...args])).code, args.join(' ')).toBe(2);
    }
  });
});

describe('log', () => {
  it('shows the trail, filtered by token (across renames) and time, and verifies it', async () => {
    const { cli } = await accountWithCi();
    await cli.run(['rename', 'ci', 'ci-old']);
    const all = JSON.parse((await cli.run(['log', '--json'])).stdout);
    expect(all.map((e: { action: string }) => e.action)).toEqual(['account.init', 'token.create', 'token.create', 'token.reveal', 'token.rename']);
    const byOldName = JSON.parse((await cli.run(['log', '--json', '--token', 'ci'])).stdout);
    expect(byOldName.map((e: { action: string }) => e.action)).toEqual(['token.create', 'token.reveal', 'token.rename']);
    const since = JSON.parse((await cli.run(['log', '--json', '--since', '2026-03-01T08:30:00Z'])).stdout);
    expect(since.map((e: { action: string }) => e.action)).toEqual(['token.reveal', 'token.rename']);
    const verified = await cli.run(['log', '--verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^audit trail intact: 5 events/);
    expect(verified.stderr).toBe('');
    const tty = await cli.run(['log'], { tty: true });
    // 80 columns: the detail goes under its event.
    expect(tty.stdout).toMatch(/ token\.rename +ci-old +s2s\n {6}renamed 'ci' to 'ci-old'\n/);
  });
});

describe('verify', () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

  it('identifies an opaque token read from stdin, including a deleted one', async () => {
    const { cli, oldValue } = await accountWithCi();
    const r = await cli.run(['verify', '--json'], { stdin: `${oldValue}\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'ci', type: 's2s', status: 'active' });
    const plain = await cli.run(['verify'], { stdin: oldValue });
    expect(plain.stdout).toMatch(/^tok_\w+\tci\ts2s\tactive\n$/);
    await cli.run(['delete', 'ci', '--confirm', 'Delete token']);
    expect((await cli.run(['verify'], { stdin: oldValue })).stdout).toMatch(/\tdraining\n$/);
  });

  it('rejects a mistyped opaque token offline (exit 2) and calls an unknown one unknown (exit 3)', async () => {
    const { cli, oldValue } = await accountWithCi();
    const typo = oldValue.slice(0, 20) + (oldValue[20] === 'a' ? 'b' : 'a') + oldValue.slice(21);
    const r = await cli.run(['verify'], { stdin: typo });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/checksum mismatch/);
    expect(r.stderr).not.toContain(typo);
    const { mintOpaqueToken } = await import('../../src/secrets/opaque.js');
    const stranger = await cli.run(['verify'], { stdin: mintOpaqueToken('s2s') });
    expect(stranger.code).toBe(3);
    expect(stranger.stderr).toMatch(/^error: unknown: no token of this account has this value/);
    expect((await cli.run(['verify'], { stdin: '' })).code).toBe(2);
    expect((await cli.run(['verify'], { stdin: 'hello world' })).code).toBe(2);
  });

  it('verifies an API JWT and rejects forged ones', async () => {
    const { cli } = await accountWithCi();
    const jwt = (await cli.run(['get', 'default'])).stdout;
    const ok = await cli.run(['verify', '--json'], { stdin: jwt });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ name: 'default', type: 'api', status: 'active' });
    const [h, p, sig] = jwt.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = [
      `${b64({ ...header, alg: 'none' })}.${p}.`,
      `${b64({ ...header, alg: 'none' })}.${p}.${sig}`,
      `${b64({ ...header, alg: 'HS256' })}.${p}.${sig}`,
      `${b64({ ...header, typ: 'JWT' })}.${p}.${sig}`,
      `${b64({ ...header, kid: 'someone-else' })}.${p}.${sig}`,
      `${h}.${b64({ ...payload, sub: 'acc_other' })}.${sig}`,
      `${h}.${b64({ ...payload, iss: 'urn:evil' })}.${sig}`,
      `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`, // a signature byte changed
    ];
    for (const f of forged) {
      const r = await cli.run(['verify'], { stdin: f });
      expect([2, 3], f).toContain(r.code);
      expect(r.stdout).toBe('');
    }
  });

  it('reports a pending API token as pending (nbf is its activation)', async () => {
    const { cli } = await accountWithCi();
    const value = (await cli.run(['create', '--type', 'api', '--name', 'next'])).stdout.trim();
    const r = await cli.run(['verify', '--json'], { stdin: value });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'next', status: 'pending' });
  });
});
