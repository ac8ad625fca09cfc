import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { ROOT, runBin, startServe } from '../helpers/bin.js';
import { baseEnv, newMasterKeyB64, tempHome } from '../helpers/env.js';

const NOW = '2026-03-01T10:00:00Z';
function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('the token service and the CLI on top of it, through the built binary', () => {
  it('server init, serve, login, then create/list/get/rename/delete; exit 7 for a non-admin, 8 when unreachable', async () => {
    const home = tempHome();
    const data = path.join(home, 'service-data');
    const env = baseEnv(home, { TOKENCTL_NOW: NOW });

    const init = await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env });
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^tctl_key_[0-9A-Za-z]{40}\n$/); // the credential alone, for `> admin.key`
    const admin = init.stdout.trim();
    expect(init.stderr).not.toContain(admin);
    expect(statSync(data).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(data, 'server.key')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(data, 'tokenctl.db')).mode & 0o777).toBe(0o600);

    const serve = await startServe(env, data);

    // login: the credential from stdin (never argv), checked against the server, saved 0600 with a warning.
    const login = await runBin(['login', '--server', serve.url], { env, input: `${admin}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toMatch(/Logged in to http:\/\/127\.0\.0\.1:\d+ as admin 'admin' of account 'acme'/);
    const credFile = path.join(home, 'credentials', 'default');
    expect(login.stderr).toContain(`saved in ${credFile} (mode 0600)`);
    expect(statSync(credFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(home, 'config.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(home, 'config.json'), 'utf8')).not.toContain(admin);

    const created = await runBin(['create', '--type', 's2s', '--name', 'events'], { env });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^tctl_s2s_\w+\n$/);
    expect(created.stderr).toMatch(/pending until 2026-03-01 10:30 UTC/);
    const value = created.stdout.trim();

    const listed = await runBin(['list', '--json'], { env });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((t: { name: string; status: string }) => `${t.name}:${t.status}`)).toEqual(['default:active', 'events:pending']);
    expect(listed.stdout).not.toContain(value);

    expect((await runBin(['get', 'events'], { env })).code).toBe(5);
    const got = await runBin(['get', 'events', '--allow-pending'], { env });
    expect(got).toMatchObject({ code: 0, stdout: value });
    const jwt = await runBin(['get', 'default'], { env });
    expect(jwt.code).toBe(0);
    expect(jwt.stdout.split('.')).toHaveLength(3);

    expect((await runBin(['rename', 'events', 'ci-events'], { env })).code).toBe(0);
    expect((await runBin(['delete', 'ci-events'], { env })).code).toBe(2); // no TTY, no --confirm
    const deleted = await runBin(['delete', 'ci-events', '--confirm', 'Delete token'], { env });
    expect(deleted.code, deleted.stderr).toBe(0);
    const all = JSON.parse((await runBin(['list', '--all', '--json'], { env })).stdout) as { name: string; status: string }[];
    expect(all.find((t) => t.name === 'ci-events')?.status).toBe('draining');

    // A non-admin principal: exit 7, and the message says only admins may manage tokens.
    const user = await runBin(['server', 'add-principal', '--data', data, '--account', 'acme', '--role', 'user', '--name', 'uma'], { env });
    expect(user.code).toBe(0);
    const ci = (key: string, url = serve.url) => ({ ...env, TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: key });
    const denied = await runBin(['list'], { env: ci(user.stdout.trim()) });
    expect(denied.code).toBe(7);
    expect(denied.stderr).toMatch(/only admins may manage tokens/);
    const userLogin = await runBin(['login', '--server', serve.url, '--profile', 'uma'], { env, input: user.stdout });
    expect(userLogin.code).toBe(7);
    expect(userLogin.stderr).toMatch(/only admins may manage tokens.*Nothing was saved/);

    // CI mode: no profile, the credential from the environment.
    const ciList = await runBin(['list', '--json'], { env: { ...ci(admin), TOKENCTL_HOME: tempHome() } });
    expect(ciList.code).toBe(0);
    const wrong = await runBin(['list'], { env: ci('tctl_key_' + 'A'.repeat(40)) });
    expect(wrong.code).toBe(7);
    expect(wrong.stderr).toMatch(/did not accept the credential/);
    expect(wrong.stderr).not.toContain('A'.repeat(40));

    // Unreachable: exit 8, naming the URL tried.
    const down = await runBin(['list'], { env: ci(admin, 'http://127.0.0.1:9') });
    expect(down.code).toBe(8);
    expect(down.stderr).toMatch(/cannot reach the token service at http:\/\/127\.0\.0\.1:9/);
    expect(down.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug

    // Graceful stop: SIGTERM, exit 0, last-used times written on the way out.
    const introspected = await fetch(`${serve.url}/v1/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: jwt.stdout }).toString(),
    });
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);
    expect(await stop(serve.child)).toBe(0);
    expect(serve.stderr()).toMatch(/SIGTERM: finishing in-flight requests[\s\S]*stopped/);
    const logs = serve.stdout();
    // One JSON line per request, all written by the time the service has stopped (they are batched).
    expect(logs.trim().split('\n').map((l) => JSON.parse(l)).some((l) => l.route === '/v1/introspect' && l.status === 200)).toBe(true);
    for (const secret of [admin, value, jwt.stdout, user.stdout.trim()]) expect(logs).not.toContain(secret);

    const again = await startServe(env, data);
    const after = await runBin(['list', '--json'], { env: ci(admin, again.url) });
    expect(JSON.parse(after.stdout).find((t: { name: string }) => t.name === 'default').lastUsedAt).not.toBeNull();
    expect(await stop(again.child)).toBe(0);
  });

  it('prints the same errors, with the same exit codes, on the local store and on the service', async () => {
    const home = tempHome();
    const data = path.join(home, 'service-data');
    // The real clock on both sides: with TOKENCTL_NOW every CLI process would restart time at the same instant,
    // while the service's clock runs on, so creation order and "in 30m" could differ for that reason alone.
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
    // OneLink is premium on a service (a local store has it): enabled, so both sides answer the script alike.
    expect((await runBin(['server', 'account', '--data', data, '--account', 'acme', '--enable', 'onelink'], { env })).code).toBe(0);
    const serve = await startServe(env, data);
    expect((await runBin(['login', '--server', serve.url, '--profile', 'remote'], { env, input: admin })).code).toBe(0);
    expect((await runBin(['--profile', 'local', 'init', '--account', 'acme'], { env })).code).toBe(0);

    const script: string[][] = [
      ['create', '--type', 's2s', '--name', 'a'],
      ['create', '--type', 's2s', '--name', 'b'],
      ['create', '--type', 's2s', '--name', 'c'], // 4: limit
      ['create', '--type', 'onelink', '--name', 'A'], // 4: name taken, ignoring case
      ['get', 'a'], // 5: pending
      ['get', 'nope'], // 3
      ['rename', 'a', 'B'], // 4
      ['rename', 'a', 'bad\u001bname'], // 2
      ['delete', 'a', '--confirm', 'delete token'], // 2
    ];
    const outcomes = async (profile: string) => {
      const out: string[] = [];
      for (const args of script) {
        const r = await runBin(['--profile', profile, ...args], { env });
        // Instants differ by the seconds between the two runs; everything else must be identical.
        out.push(`${r.code} ${r.code === 0 ? '' : r.stderr.replace(/\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+m\)/g, '<instant> (in <n>m)')}`);
      }
      return out;
    };
    const local = await outcomes('local');
    const remote = await outcomes('remote');
    expect(local.map((o) => o.split(' ')[0])).toEqual(['0', '0', '4', '4', '5', '3', '4', '2', '2']);
    expect(remote).toEqual(local);

    // profile list / use: the selection sticks for later commands.
    const profileList = await runBin(['profile', 'list', '--json'], { env });
    expect(profileList.code, profileList.stderr).toBe(0);
    const profiles = JSON.parse(profileList.stdout) as { name: string; backend: string; current: boolean }[];
    expect(profiles.map((p) => `${p.name}:${p.backend}`)).toEqual(['local:file', 'remote:http']);
    expect((await runBin(['profile', 'use', 'nope'], { env })).code).toBe(3);
    expect((await runBin(['profile', 'use', 'remote'], { env })).code).toBe(0);
    const viaDefault = await runBin(['list', '--json'], { env });
    expect(JSON.parse(viaDefault.stdout).map((t: { name: string }) => t.name)).toEqual(['default', 'a', 'b']);
    expect(JSON.parse((await runBin(['profile', 'list', '--json'], { env })).stdout).find((p: { current: boolean }) => p.current).name).toBe('remote');
    await stop(serve.child);
  });

  it('keeps the server out of the hot path: nothing that `list` loads imports fastify or SQLite', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      // Static imports only; dynamic import() chunks load when a command needs them.
      for (const m of text.matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w*{}\s,$]+from\s*)?"(\.[^"]+)"/g)) visit(path.resolve(path.dirname(file), m[1]!));
    };
    const entry = path.join(ROOT, 'dist', 'tokenctl.js');
    expect(existsSync(entry)).toBe(true);
    visit(entry);
    expect(seen.size).toBeGreaterThan(0);
    for (const file of seen) {
      const text = readFileSync(file, 'utf8');
      // Fastify's error codes, and the native SQLite binding (package.json's dependency list aside).
      expect(text, file).not.toMatch(/FST_ERR_|(?:from\s*|require\()"better-sqlite3"/);
    }
  });

  it('a second SIGTERM stops at once, with the request log and last-used times written; slow clients do not hold it', async () => {
    const home = tempHome();
    const data = path.join(home, 'service-data');
    const env = { ...baseEnv(home), TOKENCTL_NOW: NOW };
    const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
    const serve = await startServe(env, data);
    // A client that never finishes its request: it would hold a graceful shutdown.
    const { port } = new URL(serve.url);
    const slow = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write('POST /v1/introspect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ntoken=');
    slow.on('error', () => undefined);
    const jwt = (await runBin(['get', 'default'], { env: { ...env, TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: admin } })).stdout;
    const introspected = await fetch(`${serve.url}/v1/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: jwt }).toString(),
    });
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);
    const exited = new Promise<number | null>((resolve) => serve.child.once('exit', (code) => resolve(code)));
    const started = Date.now();
    serve.child.kill('SIGTERM');
    await vi.waitFor(() => expect(serve.stderr()).toMatch(/SIGTERM: finishing in-flight requests/), { timeout: 5_000, interval: 20 });
    expect(serve.child.exitCode).toBeNull(); // waiting for the slow client
    serve.child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(Date.now() - started).toBeLessThan(5_000);
    slow.destroy();
    expect(serve.stderr()).toMatch(/SIGTERM again: stopping now/);
    const lines = serve.stdout().trim().split('\n').map((l) => JSON.parse(l) as { route?: string; status?: number });
    expect(lines.some((l) => l.route === '/v1/introspect' && l.status === 200)).toBe(true);
    // The last-used time of the introspected token was written on the way out.
    const again = await startServe(env, data);
    const listed = await runBin(['list', '--json'], { env: { ...env, TOKENCTL_SERVER: again.url, TOKENCTL_ADMIN_KEY: admin } });
    expect(JSON.parse(listed.stdout).find((t: { name: string }) => t.name === 'default').lastUsedAt).not.toBeNull();
    expect(await stop(again.child)).toBe(0);
  });
});
