import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, newAccount, runBin, startServe } from '../helpers/bin.js';
import { accountEnv, tempDir } from '../helpers/env.js';

beforeAll(assertBuilt);

describe('help where gh users look, through the binary', () => {
  it('help environment, help exit-codes, version, and an unknown topic', async () => {
    const env = accountEnv(tempDir());
    const topics = await runBin(['help', 'environment'], { env });
    expect(topics.code).toBe(0);
    expect(topics.stdout).toMatch(/^TOKENCTL_ADMIN_KEY\s+/m);
    const codes = await runBin(['help', 'exit-codes'], { env });
    expect(codes.stdout).toMatch(/^5\s+the token is pending/m);
    const version = await runBin(['version'], { env });
    expect(version.stdout).toMatch(/^tokenctl \d+\.\d+\.\d+/);
    expect(version.stderr).toBe('');
    const unknown = await runBin(['help', 'nope'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: no help topic or command 'nope'; topics: environment, exit-codes/);
    const yes = await runBin(['delete', 'default', '--yes'], { env });
    expect(yes.code).toBe(2);
    expect(yes.stderr).toMatch(/^error: --yes is not accepted: .*--confirm "Delete token"/);
  });

  it('FORCE_COLOR colours a pipe; NO_COLOR alone does not', async () => {
    const { env } = await newAccount();
    const { NO_COLOR: _, ...plain } = env;
    expect((await runBin(['list', '--format', 'TABLE'], { env: { ...plain, FORCE_COLOR: '1', COLUMNS: '120' } })).stdout).toContain('\u001b[');
    expect((await runBin(['list', '--format', 'table'], { env: { ...plain, CLICOLOR_FORCE: '1' } })).stdout).toContain('\u001b[');
    expect((await runBin(['list', '--format', 'table'], { env })).stdout).not.toContain('\u001b[');
  });

  it('an empty profile names itself in the init it suggests', async () => {
    const { env } = await newAccount();
    const r = await runBin(['--profile', 'staging', 'list'], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/create one with: tokenctl --profile staging init\n$/);
  });
});

describe('a deleted token, through the binary', () => {
  it('get names when it was deleted and from when it is rejected (exit 3, nothing on stdout)', async () => {
    const { env } = await newAccount({ TOKENCTL_NOW: '2026-03-01T10:00:00Z' });
    expect((await runBin(['delete', 'default', '--confirm', 'Delete token'], { env })).code).toBe(0);
    const r = await runBin(['get', 'default'], { env });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: api token 'default' \(tok_\w+\) was deleted at 2026-03-01 10:00 UTC; calls made with it are rejected from 2026-03-01 10:30 UTC\. Its value can no longer be retrieved; see it with: tokenctl list --all\n$/);
  });
});

describe('sign out, through the binary', () => {
  it('logout removes the saved credential file; profile remove forgets the profile', async () => {
    const home = tempDir();
    const env = accountEnv(home);
    writeFileSync(path.join(home, 'config.json'), JSON.stringify({ currentProfile: 'work', profiles: { work: { server: 'http://127.0.0.1:9', credentialStore: 'file' } } }));
    mkdirSync(path.join(home, 'credentials'));
    writeFileSync(path.join(home, 'credentials', 'work'), 'adm_secret_credential_value\n', { mode: 0o600 });
    const out = await runBin(['logout'], { env });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/Logged out of http:\/\/127\.0\.0\.1:9/);
    expect(out.stderr + out.stdout).not.toContain('adm_secret_credential_value');
    expect(existsSync(path.join(home, 'credentials', 'work'))).toBe(false);
    const list = await runBin(['list'], { env });
    expect(list.code).toBe(3);
    expect(list.stderr).toMatch(/not logged in to the token service at http:\/\/127\.0\.0\.1:9; log in with: tokenctl login --server http:\/\/127\.0\.0\.1:9 --profile work/);
    const removed = await runBin(['profile', 'remove', 'work'], { env });
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8'))).toEqual({ profiles: {} });
    expect((await runBin(['profile', 'list', '--json'], { env })).stdout.trim()).toBe('[]');
  });
});

describe('against a real token service', () => {
  it('a rejected TOKENCTL_ADMIN_KEY says what to fix; list shows LAST USED with never; logout after login', async () => {
    const home = tempDir();
    const data = path.join(home, 'service-data');
    const env = accountEnv(home);
    const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
    const serve = await startServe(env, data);

    const bad = await runBin(['list'], { env: { ...env, TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: 'tctl_key_' + 'x'.repeat(40) } });
    expect(bad.code).toBe(7);
    expect(bad.stderr).toBe(
      `error: the token service at ${serve.url} did not accept the credential; TOKENCTL_ADMIN_KEY (from your environment, not a saved login) must be an admin credential of this service: set it to a valid one\n`,
    );

    const ci = { ...env, TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: admin, COLUMNS: '120', FORCE_COLOR: '0' };
    const table = await runBin(['list', '--format', 'table'], { env: ci });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/LAST USED/);
    expect(table.stdout).toMatch(/^default\s+api\s+active\s+0d\s+\d{4}-\d\d-\d\d\s+never\s/m);

    expect((await runBin(['login', '--server', serve.url, '--profile', 'acme'], { env, input: admin })).code).toBe(0);
    const out = await runBin(['logout', '--profile', 'acme'], { env });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).not.toContain(admin);
    const after = await runBin(['--profile', 'acme', 'list'], { env });
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/not logged in to the token service/);
  });
});
