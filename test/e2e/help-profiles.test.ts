import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, newAccount, runBin } from '../helpers/bin.js';
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
