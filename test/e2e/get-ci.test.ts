import { closeSync, existsSync, lstatSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { githubAddMaskCommand } from '../../src/exec/ci.js';
import { assertBuilt, BIN, createToken, newAccount, runBin, startBin } from '../helpers/bin.js';
import { tempDir } from '../helpers/env.js';

beforeAll(assertBuilt);

const later = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

describe('get under GitHub Actions', () => {
  it('registers the mask on stderr before the value is printed, stdout stays the value alone', async () => {
    const { env, defaultValue } = await newAccount();
    const r = await runBin(['get', 'default'], { env: { ...env, GITHUB_ACTIONS: 'true' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(defaultValue);
    expect(r.stderr).toBe(`::add-mask::${defaultValue}\n`);
  });

  it('writes the mask first when both streams go to one log, as on a runner', async () => {
    const { env, defaultValue } = await newAccount();
    const log = path.join(tempDir(), 'job.log');
    const fd = openSync(log, 'w');
    const child = startBin(['get', 'default'], { env: { ...env, GITHUB_ACTIONS: 'true' } }, ['ignore', fd, fd]);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    closeSync(fd);
    expect(code).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe(`::add-mask::${defaultValue}\n${defaultValue}`);
  });

  it('masks with --json and with --output-file too, and not outside Actions', async () => {
    const { env, defaultValue } = await newAccount();
    const json = await runBin(['get', 'default', '--json'], { env: { ...env, GITHUB_ACTIONS: 'true' } });
    expect(json.stderr.startsWith(`::add-mask::${defaultValue}\n`)).toBe(true);
    expect(JSON.parse(json.stdout).value).toBe(defaultValue);

    const file = path.join(tempDir(), 'tok');
    const toFile = await runBin(['get', 'default', '--output-file', file], { env: { ...env, GITHUB_ACTIONS: 'true' } });
    expect(toFile.stderr.startsWith(`::add-mask::${defaultValue}\n`)).toBe(true);

    const plain = await runBin(['get', 'default'], { env: { ...env, GITHUB_ACTIONS: 'false' } });
    expect(plain.stderr).not.toContain('add-mask');
    expect(plain.stderr).not.toContain(defaultValue);
  });

  it('escapes what would end a workflow command early', () => {
    expect(githubAddMaskCommand('a%b\r\nc')).toBe('::add-mask::a%25b%0D%0Ac\n');
  });
});

describe('get --output-file', () => {
  it('creates a new 0600 file with exactly the value and prints nothing on stdout', async () => {
    const { env, defaultValue } = await newAccount();
    const file = path.join(tempDir(), 'token.txt');
    const r = await runBin(['get', 'default', '--output-file', file], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toContain(defaultValue);
    expect(readFileSync(file, 'utf8')).toBe(defaultValue);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses an existing file and leaves it untouched', async () => {
    const { env } = await newAccount();
    const file = path.join(tempDir(), 'exists.txt');
    writeFileSync(file, 'keep me');
    const r = await runBin(['get', 'default', '--output-file', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('refuses to follow a symlink, dangling or not', async () => {
    const { env } = await newAccount();
    const dir = tempDir();
    const target = path.join(dir, 'elsewhere.txt');
    const dangling = path.join(dir, 'dangling');
    symlinkSync(target, dangling);
    const r1 = await runBin(['get', 'default', '--output-file', dangling], { env });
    expect(r1.code).toBe(2);
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);

    writeFileSync(target, 'victim');
    const link = path.join(dir, 'link');
    symlinkSync(target, link);
    const r2 = await runBin(['get', 'default', '--output-file', link], { env });
    expect(r2.code).toBe(2);
    expect(readFileSync(target, 'utf8')).toBe('victim');
  });

  it('fails cleanly when the directory does not exist', async () => {
    const { env } = await newAccount();
    const r = await runBin(['get', 'default', '--output-file', path.join(tempDir(), 'no', 'such', 'dir', 'f')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/directory does not exist/);
  });
});

describe('get never prints an empty value with exit 0', () => {
  it('missing, pending and deleted tokens exit non-zero with nothing on stdout', async () => {
    const { env } = await newAccount();
    const missing = await runBin(['get', 'nope'], { env });
    expect([missing.code, missing.stdout]).toEqual([3, '']);

    await createToken(env, 's2s', 'fresh');
    const pending = await runBin(['get', 'fresh'], { env });
    expect([pending.code, pending.stdout]).toEqual([5, '']);
    const pendingGha = await runBin(['get', 'fresh'], { env: { ...env, GITHUB_ACTIONS: 'true' } });
    expect([pendingGha.code, pendingGha.stdout]).toEqual([5, '']);
    expect(pendingGha.stderr).not.toContain('add-mask');

    const listed = JSON.parse((await runBin(['list', '--json'], { env })).stdout) as { id: string; name: string }[];
    const id = listed.find((t) => t.name === 'fresh')!.id;
    const del = await runBin(['delete', 'fresh', '--confirm', 'Delete token'], { env });
    expect(del.code).toBe(0);
    for (const ref of ['fresh', id]) {
      const deleted = await runBin(['get', ref, '--allow-pending'], { env: { ...env, TOKENCTL_NOW: later(45) } });
      expect(deleted.code).toBe(3);
      expect(deleted.stdout).toBe('');
    }
    const noFile = path.join(tempDir(), 'none');
    const deletedToFile = await runBin(['get', id, '--output-file', noFile], { env });
    expect(deletedToFile.code).toBe(3);
    expect(existsSync(noFile)).toBe(false);
  });
});

describe('get newline handling', () => {
  // `script` gives the command a real terminal, where a newline is added for a person unless --no-newline.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('adds a newline on a terminal, none with --no-newline, none when piped', async () => {
    const { env, defaultValue } = await newAccount();
    const onTty = (extra: string) =>
      spawnSync('script', ['-qec', `${process.execPath} ${BIN} get default ${extra}`, '/dev/null'], { env, encoding: 'utf8' }).stdout;
    expect(onTty('')).toBe(`${defaultValue}\r\n`);
    expect(onTty('--no-newline')).toBe(defaultValue);
    const piped = await runBin(['get', 'default', '--no-newline'], { env });
    expect(piped.stdout).toBe(defaultValue);
  });
});
