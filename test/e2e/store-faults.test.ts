// Issue 12, through the built binary: filesystem errors as one line (exit 9), a store that breaks its own rules,
// stale locks whose pid was reused, names that only look alike, and API tokens issued with the old typ.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, newAccount, ROOT, runBin, startServe, type BinResult } from '../helpers/bin.js';
import { accountEnv, baseEnv, tempHome } from '../helpers/env.js';
import { processStartTime } from '../../src/fs/process-identity.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** The binary as the unprivileged user `nobody` (as root, where EACCES never happens otherwise). */
function runAsNobody(args: string[], env: Record<string, string>): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, cwd: ROOT, uid: NOBODY, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const oneLine = (r: BinResult) => {
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/this is a bug|at .*\.js:\d+/);
};

const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));

describe('filesystem errors reach the user as one line naming the path and the fix (exit 9)', () => {
  it.skipIf(!isRoot)('a home the user cannot write: create, rename and init --profile other change nothing', async () => {
    const home = tempHome();
    chmodSync(home, 0o711); // nobody must reach it through the temp dir
    const tokenctlHome = path.join(home, 'nobody-home');
    mkdirSync(tokenctlHome, { mode: 0o700 });
    chownSync(tokenctlHome, NOBODY, 65534);
    const env = { ...accountEnv(tokenctlHome), HOME: tokenctlHome };
    const init = await runAsNobody(['init'], env);
    expect(init.code, init.stderr).toBe(0);
    const profile = path.join(tokenctlHome, 'profiles', 'default');
    const before = snapshot(profile);
    for (const dir of [profile, path.dirname(profile), tokenctlHome]) chmodSync(dir, 0o500);
    for (const args of [['create', '--type', 's2s', '--name', 'ci'], ['rename', 'default', 'main']]) {
      const r = await runAsNobody(args, env);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(9);
      oneLine(r);
      expect(r.stderr).toContain(path.join(profile, 'store.lock'));
      expect(r.stderr).toMatch(/permission denied; make .* writable by you/);
    }
    expect(snapshot(profile)).toEqual(before);
    const other = await runAsNobody(['--profile', 'other', 'init'], env);
    expect(other.code, other.stderr).toBe(9);
    oneLine(other);
    expect(other.stderr).toContain(path.join(tokenctlHome, 'profiles'));
    expect(existsSync(path.join(tokenctlHome, 'profiles', 'other'))).toBe(false);
    // Reading still works: list needs no write.
    expect((await runAsNobody(['list', '--json'], env)).code).toBe(0);
  });

  it('a file where the profiles directory should be (ENOTDIR), and a symlink loop (ELOOP)', async () => {
    const home = tempHome();
    const env = accountEnv(home);
    writeFileSync(path.join(home, 'profiles'), 'x');
    for (const args of [['init'], ['list']]) {
      const r = await runBin(args, { env });
      expect(r.code, r.stderr).toBe(9);
      oneLine(r);
      expect(r.stderr).toContain(`${path.join(home, 'profiles', 'default')}: a part of that path is a file, not a directory`);
    }

    const other = tempHome();
    symlinkSync(path.join(other, 'loop-b'), path.join(other, 'profiles'));
    symlinkSync(path.join(other, 'profiles'), path.join(other, 'loop-b'));
    const loop = await runBin(['init'], { env: accountEnv(other) });
    expect(loop.code, loop.stderr).toBe(9);
    oneLine(loop);
    expect(loop.stderr).toContain(`${path.join(other, 'profiles', 'default')}: too many levels of symbolic links`);
  });

  it('a file where TOKENCTL_HOME should be: the profile configuration says so, for reads and for login', async () => {
    const home = tempHome();
    const file = path.join(home, 'not-a-dir');
    writeFileSync(file, 'x');
    const env = accountEnv(home, { TOKENCTL_HOME: file });
    for (const args of [['list'], ['login', '--server', 'http://127.0.0.1:9']]) {
      const r = await runBin(args, { env });
      expect(r.code, r.stderr).toBe(9);
      oneLine(r);
      expect(r.stderr).toContain(`cannot read the profile configuration ${path.join(file, 'config.json')}: a part of that path is a file, not a directory`);
    }
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});

describe('a hand-edited store that breaks the rules is refused on load (exit 9), left as it is', () => {
  const edits: Record<string, (doc: any) => void> = {
    '3 live api tokens': (doc) => {
      const t = doc.tokens[0];
      doc.tokens.push({ ...t, id: 'tok_Extra00000000001', name: 'two' }, { ...t, id: 'tok_Extra00000000002', name: 'three' });
    },
    'two live tokens named alike': (doc) => doc.tokens.push({ ...doc.tokens[0], id: 'tok_Extra00000000001', name: 'DEFAULT' }),
    'a rotation pointing at a missing token': (doc) =>
      doc.rotations.push({ id: 'rot_1', oldTokenId: doc.tokens[0].id, newTokenId: 'tok_Missing000000001', type: 'api', state: 'started', startedAt: doc.tokens[0].createdAt, deliveredAt: null, completedAt: null, delivery: null, note: null }),
  };
  for (const [what, edit] of Object.entries(edits)) {
    it(what, async () => {
      const { home, env } = await newAccount();
      const file = path.join(home, 'profiles', 'default', 'store.json');
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      edit(doc);
      writeFileSync(file, JSON.stringify(doc, null, 2));
      const edited = readFileSync(file, 'utf8');
      for (const args of [['list'], ['create', '--type', 's2s', '--name', 'ci']]) {
        const r = await runBin(args, { env });
        expect(r.code, r.stderr).toBe(9);
        oneLine(r);
        expect(r.stderr).toMatch(/breaks its own rules: .*left untouched/);
      }
      expect(readFileSync(file, 'utf8')).toBe(edited);
    });
  }
});

describe('stale locks and reused pids', () => {
  const plant = async (extra: Record<string, unknown>) => {
    const { home, env } = await newAccount();
    const lock = path.join(home, 'profiles', 'default', 'store.lock');
    writeFileSync(lock, JSON.stringify({ host: hostname(), nonce: 'planted', at: Date.now(), ...extra }), { mode: 0o600 });
    return { env, lock };
  };

  it('a live pid with another start time (a crashed holder whose pid was reused) is taken over at once', async () => {
    const { env } = await plant({ pid: process.pid, started: '1' });
    const started = Date.now();
    const r = await runBin(['rename', 'default', 'main'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it.skipIf(processStartTime(process.pid) === null)('a running holder is waited for, not robbed', async () => {
    const { env, lock } = await plant({ pid: process.pid, started: processStartTime(process.pid) });
    const started = Date.now();
    const release = setTimeout(() => rmSync(lock, { force: true }), 2_500); // the holder finishes
    const r = await runBin(['rename', 'default', 'main'], { env });
    clearTimeout(release);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  });
});

describe('names that only look alike are refused (exit 2), in the CLI and in the service', () => {
  it('a zero-width joiner, a BOM inside, a no-break space, and invalid UTF-8 (U+FFFD) in an argument', async () => {
    const { env } = await newAccount();
    for (const name of ['de\u200dfault', 'de\u200bfault', 'a\u2060b', 'a\ufeffb', 'my\u00a0token', 'x\u00adx']) {
      const r = await runBin(['create', '--type', 'api', '--name', name], { env });
      expect(r.code, JSON.stringify(name)).toBe(2);
      oneLine(r);
      expect(r.stderr).toMatch(/invisible or look-alike characters \(found U\+[0-9A-F]{4}/);
    }
    expect((await runBin(['rename', 'default', 'de\u200dfault'], { env })).code).toBe(2);
    // Bytes that are not UTF-8, straight from a shell: Node hands the program U+FFFD for them.
    const raw = await new Promise<BinResult>((resolve) => {
      const child = spawn('/bin/sh', ['-c', `exec "${process.execPath}" "${BIN}" create --type api --name "$(printf 'de\\377fault')"`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr }));
    });
    expect(raw.code, raw.stderr).toBe(2);
    expect(raw.stderr).toMatch(/U\+FFFD.*not valid UTF-8/);
    const list = JSON.parse((await runBin(['list', '--json'], { env })).stdout);
    expect(list.map((t: { name: string }) => t.name)).toEqual(['default']);
  });

  it('the service answers 400 for such a name', async () => {
    const home = tempHome();
    const data = path.join(home, 'data');
    const env = baseEnv(home);
    const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
    const serve = await startServe(env, data);
    for (const name of ['de\u200dfault', 'a\ufffdb', 'my\u3000token']) {
      const r = await fetch(`${serve.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'api', name }) });
      expect(r.status, JSON.stringify(name)).toBe(400);
      expect(await r.text()).toMatch(/invisible|U\+FFFD/);
    }
  });
});
