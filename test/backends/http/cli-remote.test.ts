import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli.js';
import { createDeps, type Deps } from '../../../src/deps.js';
import { captureIO } from '../../../src/ui/io.js';
import { scriptedPrompter, type Answer } from '../../helpers/deps.js';
import { tempHome } from '../../helpers/env.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

let server: TestServer;
afterEach(async () => server?.close());

/** The real CLI in-process, with the real backend selection (profiles, TOKENCTL_SERVER), against a real server. */
async function run(env: Record<string, string>, argv: string[], opts: { tty?: boolean; stdin?: string; answers?: Answer[] } = {}) {
  const io = captureIO({ tty: opts.tty ?? false, stdin: opts.stdin });
  const prompter = scriptedPrompter([...(opts.answers ?? [])]);
  const base = await createDeps(env);
  const deps: Deps = { ...base, io, clock: server.clock, prompter: () => prompter, backend: base.backend };
  const code = await runCli(argv, deps);
  return { code, stdout: io.stdout(), stderr: io.stderr(), asked: prompter.asked };
}

describe('login, profiles and CI variables (in-process, real server)', () => {
  it('logs in from a hidden prompt on a terminal, or from stdin; never saves a rejected credential', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const home = tempHome();
    const env = { TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off' };

    const wrong = await run(env, ['login', '--server', server.url], { stdin: 'tctl_key_' + 'Z'.repeat(40) });
    expect(wrong.code).toBe(7);
    expect(existsSync(path.join(home, 'config.json'))).toBe(false);
    expect(existsSync(path.join(home, 'credentials', 'default'))).toBe(false);

    const empty = await run(env, ['login', '--server', server.url], { stdin: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no credential given/);

    const tty = await run(env, ['login', '--server', server.url, '--profile', 'work'], { tty: true, answers: [credential] });
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.asked).toEqual([`Admin credential for ${server.url}`]); // the prompt itself adds "(input hidden)"
    expect(tty.stdout).toBe('');
    expect(tty.stderr).not.toContain(credential);
    expect(readFileSync(path.join(home, 'credentials', 'work'), 'utf8').trim()).toBe(credential);

    const piped = await run(env, ['--json', 'login', '--server', `${server.url}/`], { stdin: `${credential}\n` });
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ profile: 'default', server: server.url, principal: { role: 'admin' }, credentialStore: 'file' });
    expect(piped.stdout).not.toContain(credential);

    const listed = await run(env, ['--profile', 'work', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['default']);
  });

  it('refuses plain http beyond this machine, URLs with credentials, and a credential passed as an argument', async () => {
    server = await startTestServer();
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_KEYCHAIN: 'off' };
    const remoteHttp = await run(env, ['login', '--server', 'http://tokens.example.com'], { stdin: 'tctl_key_x' });
    expect(remoteHttp.code).toBe(2);
    expect(remoteHttp.stderr).toMatch(/refusing plain http/);
    expect((await run(env, ['login', '--server', 'https://me:pw@tokens.example.com'], { stdin: 'x' })).code).toBe(2);
    expect((await run(env, ['login', '--server', 'ftp://x'], { stdin: 'x' })).code).toBe(2);
    const argv = await run(env, ['login', '--server', server.url, 'tctl_key_' + 'A'.repeat(40)], { stdin: '' });
    expect(argv.code).toBe(2);
    expect(argv.stderr).not.toContain('A'.repeat(40));
  });

  it('TOKENCTL_SERVER needs TOKENCTL_ADMIN_KEY, and init points at server init', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const home = tempHome();
    const missing = await run({ TOKENCTL_HOME: home, TOKENCTL_SERVER: server.url }, ['list']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/TOKENCTL_ADMIN_KEY is not/);
    const ci = { TOKENCTL_HOME: home, TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    const init = await run(ci, ['init']);
    expect(init.code).toBe(2);
    expect(init.stderr).toMatch(/tokenctl server init --data/);
    const created = await run(ci, ['create', '--type', 'onelink', '--name', 'links']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^tctl_ol_\w+\n$/);
  });

  it('serve: exit 3 without a data directory, 8 when the port is taken, 2 for a bad port; the same for server commands', async () => {
    server = await startTestServer();
    const home = tempHome();
    const env = { TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off' };
    const missing = await run(env, ['serve', '--data', path.join(home, 'none')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no token service data in .*; create it with: tokenctl server init --data/);
    const data = path.join(home, 'data');
    expect((await run(env, ['server', 'init', '--data', data])).code).toBe(0);
    const again = await run(env, ['server', 'init', '--data', data]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/an account named 'default' already exists on this service/);
    const port = new URL(server.url).port;
    const taken = await run(env, ['serve', '--data', data, '--port', port]);
    expect(taken.code).toBe(8);
    expect(taken.stderr).toMatch(`cannot listen on 127.0.0.1:${port} (the address is in use)`);
    expect((await run(env, ['serve', '--data', data, '--port', '70000'])).code).toBe(2);
    expect((await run(env, ['server', 'add-principal', '--data', data, '--account', 'nope', '--role', 'user', '--name', 'u'])).code).toBe(3);
    expect((await run(env, ['server', 'add-principal', '--data', data, '--account', 'default', '--role', 'root', '--name', 'u'])).code).toBe(2);
    const dup = await run(env, ['server', 'add-principal', '--data', data, '--account', 'default', '--role', 'user', '--name', 'Admin']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/already exists/);
  });

  it('profile use makes the choice stick; TOKENCTL_PROFILE and --profile still win', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const home = tempHome();
    const env = { TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off' };
    expect((await run(env, ['login', '--server', server.url, '--profile', 'svc'], { stdin: credential })).code).toBe(0);
    const before = await run(env, ['list']);
    expect(before.code).toBe(3); // the local default profile has no store
    expect((await run(env, ['profile', 'use', 'svc'])).code).toBe(0);
    expect((await run(env, ['list', '--json'])).code).toBe(0);
    expect((await run({ ...env, TOKENCTL_PROFILE: 'default' }, ['list'])).code).toBe(3);
    expect((await run(env, ['--profile', 'default', 'list'])).code).toBe(3);
    const listed = await run(env, ['profile', 'list']);
    expect(listed.stdout).toMatch(/^\* svc\tserver\thttp:\/\/127\.0\.0\.1:\d+ \(account acme, as admin\)\n$/);
    const bad = await run(env, ['profile', 'use', '../etc']);
    expect(bad.code).toBe(2);
  });
});

describe('credentials kept in the keychain', () => {
  it('says so (exit 8) when the keychain is not reachable, instead of waiting for it', async () => {
    server = await startTestServer();
    const home = tempHome();
    const { saveServerProfile } = await import('../../../src/config/profiles.js');
    await saveServerProfile({ TOKENCTL_HOME: home }, 'kc', { server: server.url, credentialStore: 'keychain' });
    const r = await run({ TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off' }, ['--profile', 'kc', 'list']);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/profile 'kc' keeps its credential in the OS keychain, which is not reachable here/);
  });
});

describe('rotate, audit, log and verify on the service', () => {
  it('delete says a token was never used when the service has not seen it in use', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    expect((await run(env, ['create', '--type', 's2s', '--name', 'unused'])).code).toBe(0);
    const r = await run(env, ['delete', 'unused'], { tty: true, answers: ['Delete token'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Never used\./);
  });

  it('rotates safely across two runs, and the service keeps the journal and the trail', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    expect((await run(env, ['create', '--type', 's2s', '--name', 'ci'])).code).toBe(0);
    server.clock.advance(31 * 60_000);

    const started = await run(env, ['rotate', 'ci']);
    expect(started.code, started.stderr).toBe(0);
    const replacement = started.stdout.trim();
    expect(replacement).toMatch(/^tctl_s2s_/);
    // Too early: nothing is deleted while the replacement is pending; the command says when, and exits 5 (pending)
    // so that a script can tell an unfinished rotation from a finished one.
    const tooEarly = await run(env, ['rotate', 'ci', '--resume', '--confirm', 'Delete token']);
    expect(tooEarly.code, tooEarly.stderr).toBe(5);
    expect((JSON.parse((await run(env, ['list', '--json'])).stdout) as { name: string; status: string }[]).map((t) => `${t.name}:${t.status}`)).toEqual([
      'default:active',
      'ci:active',
      'ci-20260301:pending',
    ]);
    server.clock.advance(31 * 60_000);
    const finished = await run(env, ['rotate', 'ci', '--resume', '--confirm', 'Delete token']);
    expect(finished.code, finished.stderr).toBe(0);

    const live = JSON.parse((await run(env, ['list', '--json'])).stdout) as { name: string }[];
    expect(live.map((t) => t.name).sort()).toEqual(['ci-20260301', 'default']);
    const verified = await run(env, ['verify'], { stdin: replacement });
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout + verified.stderr).toMatch(/ci-20260301/);
    const log = await run(env, ['log', '--verify']);
    expect(log.code, log.stderr).toBe(0);
    const trail = await run(env, ['log', '--json']);
    const actions = (JSON.parse(trail.stdout) as { action: string; actor: string }[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['account.init', 'token.create', 'rotation.start', 'rotation.deliver', 'token.delete', 'rotation.complete']));
    expect(trail.stdout).not.toContain(replacement);
    const audit = await run(env, ['audit', '--json']);
    expect(audit.code, audit.stderr).toBe(0);
  });
});

describe("the service's clock decides, whatever the CLI's (a drill's TOKENCTL_NOW on the admin's machine)", () => {
  it('list and get agree that a token is pending; rotate --resume does not offer to delete the old token before the service would', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount();
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    expect((await run(env, ['create', '--type', 's2s', '--name', 'ci'])).code).toBe(0);
    server.clock.advance(31 * 60_000);
    expect((await run(env, ['rotate', 'ci'])).code).toBe(0); // the replacement is pending (for the service) for 30 min
    // The CLI's own clock is an hour ahead of the service's (the command's clock in a drill): it shows nothing by it.
    const ahead = async (argv: string[]) => {
      const io = captureIO({ tty: true, stdin: '' });
      const prompter = scriptedPrompter([]);
      const base = await createDeps(env);
      const deps: Deps = { ...base, io, clock: { now: () => new Date(server.clock.nowMs() + 60 * 60_000), nowMs: () => server.clock.nowMs() + 60 * 60_000 }, prompter: () => prompter };
      return { code: await runCli(argv, deps), stdout: io.stdout(), stderr: io.stderr(), asked: prompter.asked };
    };
    const listed = await ahead(['list', '--json']);
    expect(JSON.parse(listed.stdout).find((t: { name: string }) => t.name === 'ci-20260301').status).toBe('pending');
    const got = await ahead(['get', 'ci-20260301']);
    expect(got.code).toBe(5);
    const resumed = await ahead(['rotate', 'ci', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(5);
    expect(resumed.stderr).not.toMatch(/can now be deleted/);
    expect(resumed.asked).toEqual([]);
    // Once the service's clock passes the activation, all three agree it is active.
    server.clock.advance(31 * 60_000);
    expect(JSON.parse((await ahead(['list', '--json'])).stdout).find((t: { name: string }) => t.name === 'ci-20260301').status).toBe('active');
    expect((await ahead(['get', 'ci-20260301'])).code).toBe(0);
  });
});

describe('server principals / remove-principal', () => {
  it('lists principals without credentials, revokes one, and keeps the last admin', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount({ name: 'acme' });
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER_KEY: server.serverKey };
    const data = path.join(server.dataDir, 'data');
    const added = await run(env, ['server', 'add-principal', '--data', data, '--account', 'acme', '--role', 'service', '--name', 'gateway']);
    expect(added.code).toBe(0);
    const gateway = added.stdout.trim();
    const listed = await run(env, ['--json', 'server', 'principals', '--data', data, '--account', 'acme']);
    expect((JSON.parse(listed.stdout) as { name: string; role: string }[]).map((p) => `${p.name}:${p.role}`)).toEqual(['admin:admin', 'gateway:service']);
    expect(listed.stdout).not.toContain(gateway);
    expect(listed.stdout).not.toContain(credential);

    const removed = await run(env, ['server', 'remove-principal', '--data', data, '--account', 'acme', '--name', 'GATEWAY']);
    expect(removed.code, removed.stderr).toBe(0);
    const r = await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${gateway}` } });
    expect(r.status).toBe(401);
    const last = await run(env, ['server', 'remove-principal', '--data', data, '--account', 'acme', '--name', 'admin']);
    expect(last.code).toBe(4);
    expect(last.stderr).toMatch(/last admin/);
    expect((await run(env, ['server', 'remove-principal', '--data', data, '--account', 'acme', '--name', 'nobody'])).code).toBe(3);
  });
});

describe('OAuth client ids and signing algorithms (server ..., verify)', () => {
  it('server add-principal and server principals show the client id; with the credential it is a client_secret_basic client', async () => {
    server = await startTestServer();
    await server.initAccount({ name: 'acme' });
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER_KEY: server.serverKey };
    const data = path.join(server.dataDir, 'data');
    const added = await run(env, ['server', 'add-principal', '--data', data, '--account', 'acme', '--role', 'service', '--name', 'gateway']);
    expect(added.code, added.stderr).toBe(0);
    const secret = added.stdout.trim();
    const clientId = /OAuth client id: (prn_\w+);/.exec(added.stderr)?.[1];
    expect(clientId).toMatch(/^prn_/);
    expect(added.stderr).not.toContain(secret);
    const json = await run(env, ['--json', 'server', 'add-principal', '--data', data, '--account', 'acme', '--role', 'service', '--name', 'other']);
    expect(JSON.parse(json.stdout).principal).toEqual({ id: expect.stringMatching(/^prn_/), clientId: JSON.parse(json.stdout).principal.id, name: 'other', role: 'service' });

    const listed = await run(env, ['--json', 'server', 'principals', '--data', data, '--account', 'acme']);
    const rows = JSON.parse(listed.stdout) as { id: string; clientId: string; name: string }[];
    expect(rows.find((p) => p.name === 'gateway')).toMatchObject({ id: clientId, clientId });
    const text = await run(env, ['server', 'principals', '--data', data, '--account', 'acme']);
    expect(text.stdout).toContain(`${clientId}\tgateway\tservice\t`);
    expect(text.stderr).toMatch(/principal id, is also its OAuth client id/);

    await server.app.accounts.caughtUp((await server.storage.accountByName('acme'))!.id);
    const r = await fetch(`${server.url}/v1/introspect`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=tctl_s2s_nothing',
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ active: false });
  });

  it('server account --signing-alg: new API tokens signed with it, older ones still verify (tokenctl verify through the service)', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount({ name: 'acme' });
    const env = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER_KEY: server.serverKey };
    const data = path.join(server.dataDir, 'data');
    const bad = await run(env, ['server', 'account', '--data', data, '--account', 'acme', '--signing-alg', 'HS256']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown signing algorithm 'HS256'; use one of: EdDSA, ES256, RS256/);
    const changed = await run(env, ['server', 'account', '--data', data, '--account', 'acme', '--signing-alg', 'es256']);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/\nsigning\tES256 \(key [\w-]+; 1 older key still verifies\)\n$/);
    expect(changed.stderr).toMatch(/New API tokens of account 'acme' are signed with ES256/);
    const again = await run(env, ['--json', 'server', 'account', '--data', data, '--account', 'acme', '--signing-alg', 'ES256']);
    expect(again.stderr).toMatch(/already signed with ES256/);
    expect(JSON.parse(again.stdout).account).toMatchObject({ signingAlg: 'ES256', signingKeys: [{ alg: 'EdDSA' }, { alg: 'ES256' }] });

    await server.app.accounts.caughtUp((await server.storage.accountByName('acme'))!.id);
    const ci = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    const created = await run(ci, ['create', '--type', 'api', '--name', 'es']);
    expect(created.code, created.stderr).toBe(0);
    const es = created.stdout.trim();
    expect(JSON.parse(Buffer.from(es.split('.')[0]!, 'base64url').toString()).alg).toBe('ES256');
    const old = (await run(ci, ['get', 'default'])).stdout.trim();
    const verifiedNew = await run(ci, ['--json', 'verify'], { stdin: es });
    expect(verifiedNew.code, verifiedNew.stderr).toBe(0);
    expect(JSON.parse(verifiedNew.stdout)).toMatchObject({ name: 'es', status: 'pending' });
    const verifiedOld = await run(ci, ['--json', 'verify'], { stdin: old });
    expect(verifiedOld.code, verifiedOld.stderr).toBe(0);
    expect(JSON.parse(verifiedOld.stdout)).toMatchObject({ name: 'default', status: 'active' });
    // The header's algorithm must be the key's: the ES256 token relabelled is unknown (exit 3).
    const [h, p, s] = es.split('.') as [string, string, string];
    const relabelled = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), alg: 'RS256' })).toString('base64url')}.${p}.${s}`;
    const refused = await run(ci, ['verify'], { stdin: relabelled });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/not the one of this account's key/);
  });
});
