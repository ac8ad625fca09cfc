import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, issuerFor, mintApiToken } from '../../src/secrets/jwt.js';
import { mintOpaqueToken, randomBase62 } from '../../src/secrets/opaque.js';
import { assertBuilt, createToken, newAccount, runBin } from '../helpers/bin.js';
import { accountEnv, tempDir } from '../helpers/env.js';

beforeAll(assertBuilt);

interface Finding {
  file: string;
  line: number;
  column: number;
  endColumn: number;
  type: string;
  masked: string;
  live: 'yes' | 'no' | 'unknown';
  token: { id: string; name: string; status: string } | null;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** Noise around a token: base62 runs, punctuation, quotes, spaces and line breaks, like real files. */
function noise(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += b % 9 === 0 ? ' \n\t"\'=:,;{}[]()'[b % 14] : ALNUM[b % 62];
  return s;
}

function positionOf(text: string, index: number) {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, column: index - (before.lastIndexOf('\n') + 1) + 1 };
}

describe('scan', () => {
  it('finds all of 1,000 tokens of every kind create makes, embedded in noise, and prints no value', { timeout: 120_000 }, async () => {
    const { env } = await newAccount();
    const dir = tempDir();
    const keys = [generateSigningKey(), generateSigningKey()];
    const values: { type: string; value: string }[] = [];
    for (let i = 0; i < 1000; i++) {
      const kind = i % 3;
      if (kind === 0) values.push({ type: 'onelink', value: mintOpaqueToken('onelink') });
      else if (kind === 1) values.push({ type: 's2s', value: mintOpaqueToken('s2s') });
      else {
        const accountId = `acc_${randomBase62(16)}`;
        const value = await mintApiToken(keys[i % 2]!, { accountId, tokenId: `tok_${randomBase62(16)}`, issuedAt: new Date(), notBefore: new Date(Date.now() + 1_800_000) });
        expect(value).toContain('.');
        values.push({ type: 'api', value });
        expect(JSON.parse(Buffer.from(value.split('.')[1]!, 'base64url').toString()).iss).toBe(issuerFor(accountId));
      }
    }
    const expected = new Map<string, { file: string; line: number; column: number; type: string }>();
    for (let f = 0; f < 10; f++) {
      const file = path.join(dir, f % 2 ? `nested/deeper/config-${f}.yaml` : `src-${f}.ts`);
      mkdirSync(path.dirname(file), { recursive: true });
      let text = '';
      for (const { type, value } of values.slice(f * 100, f * 100 + 100)) {
        text += noise(20 + (randomBytes(1)[0]! % 200));
        // Some tokens sit right against other characters (quotes, =, base62 letters), some on lines of their own.
        text += ['', '"', '=', '\n', 'x', 'Bearer '][randomBytes(1)[0]! % 6];
        expected.set(value, { file: path.relative(dir, file), ...positionOf(text, text.length), type });
        text += value;
      }
      writeFileSync(file, text + noise(100));
    }
    const r = await runBin(['scan', '.', '--format', 'json'], { env, cwd: dir, timeoutMs: 100_000 });
    expect(r.code).toBe(6);
    const findings = JSON.parse(r.stdout) as Finding[];
    expect(findings).toHaveLength(1000);
    const byPlace = new Map(findings.map((f) => [`${f.file}:${f.line}:${f.column}`, f]));
    for (const [value, where] of expected) {
      const f = byPlace.get(`${where.file}:${where.line}:${where.column}`);
      expect(f, `${where.type} token at ${where.file}:${where.line}:${where.column}`).toBeDefined();
      expect(f!.type).toBe(where.type);
      expect(f!.masked.endsWith(value.slice(-4))).toBe(true);
      expect(f!.endColumn - f!.column).toBe(value.length);
      expect(f!.live).toBe('no'); // not tokens of this account
    }
    const printed = r.stdout + r.stderr;
    for (const value of expected.keys()) expect(printed.includes(value)).toBe(false);
    expect(r.stderr).toMatch(/found 1000 tokenctl tokens in 10 files/);
  });

  it('raises no false alarm on 1 MB of random base62 text, even with tokenctl prefixes and JWT-like shapes in it', async () => {
    const dir = tempDir();
    let text = '';
    while (text.length < 1_000_000) {
      text += randomBase62(50 + (randomBytes(1)[0]! % 500));
      const r = randomBytes(1)[0]! % 4;
      // Right shapes, random contents: the checksum (or the JWT structure) must reject them.
      if (r === 0) text += `tctl_ol_${randomBase62(34)}`;
      else if (r === 1) text += `tctl_s2s_${randomBase62(34)}`;
      else if (r === 2) text += `eyJ${randomBase62(30)}.eyJ${randomBase62(60)}.${randomBase62(86)}`;
      else text += '\n';
    }
    writeFileSync(path.join(dir, 'random.txt'), text);
    const r = await runBin(['scan', 'random.txt'], { env: accountEnv(dir), cwd: dir });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/No tokenctl tokens found in 1 file/);
    expect(r.code).toBe(0);
  });

  it("tells the account's own live and deleted tokens from foreign ones, and says unknown without an account", async () => {
    const { env, defaultValue } = await newAccount();
    const s2s = await createToken(env, 's2s', 'events');
    const gone = await createToken(env, 'onelink', 'old');
    expect((await runBin(['delete', 'old', '--confirm', 'Delete token'], { env })).code).toBe(0);
    const foreign = mintOpaqueToken('s2s');
    const input = `A=${defaultValue}\nB=${s2s}\nC=${gone}\nD=${foreign}\n`;

    const r = await runBin(['scan', '--stdin', '--json'], { env, input });
    expect(r.code).toBe(6);
    const findings = JSON.parse(r.stdout) as Finding[];
    expect(findings.map((f) => [f.file, f.line, f.column, f.type, f.live, f.token?.name ?? null, f.token?.status ?? null])).toEqual([
      ['<stdin>', 1, 3, 'api', 'yes', 'default', 'active'],
      ['<stdin>', 2, 3, 's2s', 'yes', 'events', 'pending'],
      ['<stdin>', 3, 3, 'onelink', 'no', 'old', 'draining'],
      ['<stdin>', 4, 3, 's2s', 'no', null, null],
    ]);

    const text = await runBin(['scan', '--stdin'], { env, input });
    expect(text.stdout).toMatch(/^<stdin>:1:3: api token eyJ…\S{4} - LIVE token of this account: 'default'/);
    for (const v of [defaultValue, s2s, gone, foreign]) expect(text.stdout + text.stderr).not.toContain(v);

    const nowhere = tempDir();
    const unknown = await runBin(['scan', '--stdin', '--json'], { env: accountEnv(nowhere), input });
    expect(unknown.code).toBe(6);
    expect((JSON.parse(unknown.stdout) as Finding[]).map((f) => f.live)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    const noKey = await runBin(['scan', '--stdin', '--json'], { env: { ...env, TOKENCTL_MASTER_KEY: '' }, input });
    expect(noKey.code).toBe(6);
    expect((JSON.parse(noKey.stdout) as Finding[]).every((f) => f.live === 'unknown')).toBe(true);
  });

  it('skips .git, node_modules and binary files, and exits 0 on a clean tree', async () => {
    const dir = tempDir();
    const value = mintOpaqueToken('onelink');
    for (const sub of ['.git', 'node_modules/pkg']) {
      mkdirSync(path.join(dir, sub), { recursive: true });
      writeFileSync(path.join(dir, sub, 'leak.txt'), value);
    }
    writeFileSync(path.join(dir, 'image.bin'), Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(value)]));
    writeFileSync(path.join(dir, 'clean.txt'), 'nothing here\n');
    const r = await runBin(['scan'], { env: accountEnv(dir), cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/in 1 file/);

    writeFileSync(path.join(dir, 'leak.env'), `TOKEN=${value}\n`);
    const found = await runBin(['scan', dir], { env: accountEnv(dir), cwd: dir });
    expect(found.code).toBe(6);
    expect(found.stdout).toMatch(/^leak\.env:1:7: onelink token/);
    expect((await runBin(['scan', 'missing-path'], { env: accountEnv(dir), cwd: dir })).code).toBe(2);
  });

  it('writes SARIF 2.1.0 that code scanning can read', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'conf dir'));
    const value = mintOpaqueToken('s2s');
    writeFileSync(path.join(dir, 'conf dir', 'app.env'), `# config\nS2S=${value}\n`);
    const r = await runBin(['scan', '--format', 'sarif'], { env: accountEnv(dir), cwd: dir });
    expect(r.code).toBe(6);
    expect(r.stdout).not.toContain(value);
    const sarif = JSON.parse(r.stdout);
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('tokenctl');
    expect(run.tool.driver.rules.map((x: { id: string }) => x.id)).toEqual(['tokenctl/api-token', 'tokenctl/onelink-token', 'tokenctl/s2s-token']);
    expect(run.results).toHaveLength(1);
    const result = run.results[0];
    expect(result.ruleId).toBe('tokenctl/s2s-token');
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe(result.ruleId);
    expect(result.level).toBe('error');
    expect(result.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: 'conf%20dir/app.env', uriBaseId: '%SRCROOT%' },
      region: { startLine: 2, startColumn: 5, endLine: 2, endColumn: 5 + value.length },
    });
    expect(result.message.text).toContain(`tctl_s2s_…${value.slice(-4)}`);

    writeFileSync(path.join(dir, 'conf dir', 'app.env'), '# config\nS2S=from-the-vault\n');
    const clean = await runBin(['scan', '--format', 'sarif'], { env: accountEnv(dir), cwd: dir });
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout).runs[0].results).toEqual([]);
  });

  const hasGit = spawnSync('git', ['--version']).status === 0;
  it.skipIf(!hasGit)('--staged scans what the commit would contain, not the working tree', async () => {
    const dir = tempDir();
    const git = (...args: string[]) => {
      const r = spawnSync('git', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
    };
    git('init', '-q');
    git('config', 'user.email', 't@example.com');
    git('config', 'user.name', 't');
    const value = mintOpaqueToken('onelink');
    writeFileSync(path.join(dir, 'committed.txt'), 'fine\n');
    git('add', 'committed.txt');
    git('commit', '-qm', 'init');
    writeFileSync(path.join(dir, 'staged.env'), `X=1\nTOKEN=${value}\n`);
    git('add', 'staged.env');
    writeFileSync(path.join(dir, 'staged.env'), 'X=1\n'); // fixed in the tree, but the index still has it
    writeFileSync(path.join(dir, 'untracked.env'), `TOKEN=${mintOpaqueToken('s2s')}\n`);
    git('rm', '-q', 'committed.txt');
    const env = accountEnv(dir);

    const staged = await runBin(['scan', '--staged', '--json'], { env, cwd: dir });
    expect(staged.code).toBe(6);
    expect((JSON.parse(staged.stdout) as Finding[]).map((f) => [f.file, f.line, f.column, f.type])).toEqual([['staged.env', 2, 7, 'onelink']]);

    git('reset', '-q', 'staged.env');
    const clean = await runBin(['scan', '--staged'], { env, cwd: dir });
    expect(clean.code).toBe(0);

    const notRepo = await runBin(['scan', '--staged'], { env, cwd: tempDir() });
    expect(notRepo.code).toBe(2);
    expect(notRepo.stderr).toMatch(/git repository/);
  });

  it.skipIf(!hasGit)('--staged never hands tokenctl\'s credentials to git (or what git runs)', async () => {
    const dir = tempDir();
    spawnSync('git', ['init', '-q'], { cwd: dir });
    // A `git` first on PATH that records the environment it was given, then runs the real one.
    const bin = path.join(dir, '.bin');
    mkdirSync(bin);
    const realGit = spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(path.join(bin, 'git'), `#!/bin/sh\nenv >> '${path.join(dir, 'git-env.txt')}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
    const env = { ...accountEnv(dir), TOKENCTL_ADMIN_KEY: 'admin-credential-xyz', PATH: `${bin}:${process.env.PATH}` };
    const r = await runBin(['scan', '--staged'], { env, cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const seen = (await import('node:fs')).readFileSync(path.join(dir, 'git-env.txt'), 'utf8');
    expect(seen).toMatch(/^PATH=/m); // git did run, with an environment
    expect(seen).not.toMatch(/TOKENCTL_MASTER_KEY|TOKENCTL_ADMIN_KEY|admin-credential-xyz/);
    expect(seen).not.toContain((env as Record<string, string>).TOKENCTL_MASTER_KEY!);
  });
});
