import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runBin, startBin } from '../helpers/bin.js';
import { baseEnv, newMasterKeyB64, tempHome } from '../helpers/env.js';

/** An account whose 's2s' token "ci" is active, with a clock that tests step through TOKENCTL_NOW. */
async function account() {
  const home = tempHome();
  const base = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
  const at = (now: string) => ({ ...base, TOKENCTL_NOW: now });
  expect((await runBin(['init'], { env: at('2026-01-01T09:00:00Z') })).code).toBe(0);
  expect((await runBin(['create', '--type', 's2s', '--name', 'ci'], { env: at('2026-01-01T09:00:00Z') })).code).toBe(0);
  const names = async (now: string, ...args: string[]) =>
    JSON.parse((await runBin(['list', '--json', ...args], { env: at(now) })).stdout).map((t: { name: string; status: string }) => `${t.name}:${t.status}`);
  return { home, at, names, log: path.join(home, 'profiles', 'default', 'audit.log') };
}

describe('rotation through the binary, with TOKENCTL_NOW stepping the clock', () => {
  it('create, resume 31 minutes later, delete, audit 181 days later', async () => {
    const a = await account();
    const started = await runBin(['rotate', 'ci'], { env: a.at('2026-01-01T10:00:00Z') });
    expect(started.code, started.stderr).toBe(0);
    const value = started.stdout.trim();
    expect(value).toMatch(/^tctl_s2s_/);
    expect(started.stderr).toMatch(/becomes active at 2026-01-01 10:30 UTC \(in 30m\)/);

    const tooEarly = await runBin(['rotate', 'ci', '--resume', '--confirm', 'Delete token'], { env: a.at('2026-01-01T10:29:00Z') });
    expect(tooEarly.code).toBe(5);
    expect(tooEarly.stderr).toMatch(/\nerror: the rotation of 'ci' cannot finish yet: 'ci-20260101' becomes active at 2026-01-01 10:30 UTC \(in 1m\).*Finish then with: tokenctl rotate ci --resume --confirm "Delete token"/);
    expect(await a.names('2026-01-01T10:29:00Z')).toEqual(['default:active', 'ci:active', 'ci-20260101:pending']);

    const finished = await runBin(['rotate', 'ci', '--resume', '--confirm', 'Delete token'], { env: a.at('2026-01-01T10:31:00Z') });
    expect(finished.code, finished.stderr).toBe(0);
    expect(await a.names('2026-01-01T10:31:00Z', '--all')).toEqual(['default:active', 'ci:draining', 'ci-20260101:active']);
    expect((await runBin(['get', 'ci-20260101'], { env: a.at('2026-01-01T10:31:00Z') })).stdout).toBe(value);

    const review = await runBin(['audit', '--json'], { env: a.at('2026-07-01T09:00:00Z') });
    expect(review.code).toBe(0);
    const report = JSON.parse(review.stdout);
    expect(report.findings.filter((f: { kind: string }) => f.kind === 'stale').map((f: { name: string }) => f.name).sort()).toEqual(['ci-20260101', 'default']);
    const gate = await runBin(['audit', '--fail-on-stale'], { env: a.at('2026-07-01T09:00:00Z') });
    expect(gate.code).toBe(6);
    expect(gate.stdout).toMatch(/FAIL: 2 stale tokens/);
    expect((await runBin(['audit', '--fail-on-stale'], { env: a.at('2026-06-29T09:00:00Z') })).code).toBe(0);
    expect((await runBin(['log', '--verify'], { env: a.at('2026-07-01T09:00:00Z') })).code).toBe(0);
  });

  it.each(['started', 'delivered', 'completed'])('a kill -9 right after "%s" resumes correctly', async (step) => {
    const a = await account();
    // 'started' and 'delivered' happen in the first run; 'completed' in the run that finishes, 31 minutes later.
    const crashEnv = (now: string) => ({ ...a.at(now), TOKENCTL_CRASH_AFTER: step });
    if (step === 'completed') {
      expect((await runBin(['rotate', 'ci'], { env: a.at('2026-01-01T10:00:00Z') })).code).toBe(0);
      const killed = await runBin(['rotate', 'ci', '--resume', '--confirm', 'Delete token'], { env: crashEnv('2026-01-01T10:31:00Z') });
      expect(killed.signal).toBe('SIGKILL');
    } else {
      const killed = await runBin(['rotate', 'ci', '--confirm', 'Delete token'], { env: crashEnv('2026-01-01T10:00:00Z') });
      expect(killed.signal).toBe('SIGKILL');
      expect(await a.names('2026-01-01T10:00:00Z')).toEqual(['default:active', 'ci:active', 'ci-20260101:pending']);
    }
    const resumed = await runBin(['rotate', 'ci-20260101', '--resume', '--confirm', 'Delete token'], { env: a.at('2026-01-01T11:00:00Z') });
    expect(resumed.code, resumed.stderr).toBe(0);
    if (step === 'completed') expect(resumed.stderr).toMatch(/is already complete: 'ci-20260101' replaced it/);
    expect(await a.names('2026-01-01T11:00:00Z')).toEqual(['default:active', 'ci-20260101:active']);
    expect((await runBin(['log', '--verify'], { env: a.at('2026-01-01T11:00:00Z') })).code).toBe(0);
  });

  it('Ctrl-C during --wait says the rotation is kept and the exact command that resumes it', async () => {
    const a = await account();
    const child = startBin(['rotate', 'ci', '--wait', '--confirm', 'Delete token'], { env: a.at('2026-01-01T10:00:00Z') });
    let stderr = '';
    let interrupted = false;
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!interrupted && stderr.includes('left')) interrupted = child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code, stderr).toBe(10);
    expect(stderr).toMatch(
      /\ncancelled: the rotation is kept \(both tokens stay live; 'ci-20260101' becomes active at 2026-01-01 10:30 UTC \(in 30m\)\); finish it with: tokenctl rotate ci --resume --wait --confirm "Delete token"\n$/,
    );
    expect(await a.names('2026-01-01T10:00:00Z')).toEqual(['default:active', 'ci:active', 'ci-20260101:pending']);
  });

  it('a kill -9 during --exec delivery keeps both tokens; rotate again resumes without a third token', async () => {
    const a = await account();
    const killed = await runBin(['rotate', 'ci', '--exec', 'kill -9 $PPID'], { env: a.at('2026-01-01T10:00:00Z') });
    expect(killed.signal).toBe('SIGKILL');
    expect(await a.names('2026-01-01T10:00:00Z')).toEqual(['default:active', 'ci:active', 'ci-20260101:pending']);
    const out = path.join(a.home, 'delivered');
    const again = await runBin(['rotate', 'ci', '--exec', `printf %s "$TOKENCTL_TOKEN" > '${out}'`], { env: a.at('2026-01-01T10:01:00Z') });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Resuming rotation/);
    expect(await a.names('2026-01-01T10:01:00Z')).toEqual(['default:active', 'ci:active', 'ci-20260101:pending']);
    expect(readFileSync(out, 'utf8')).toMatch(/^tctl_s2s_/);
  });
});

describe('rotate --wait through the binary', () => {
  it('waits in real time for activation with plain progress lines when not a terminal, then finishes', async () => {
    const a = await account();
    expect((await runBin(['rotate', 'ci'], { env: a.at('2026-01-01T10:00:00Z') })).code).toBe(0);
    const started = Date.now();
    // Two seconds before activation: --wait really waits, then deletes the old token.
    const r = await runBin(['rotate', 'ci', '--resume', '--wait', '--confirm', 'Delete token'], { env: a.at('2026-01-01T10:29:58Z') });
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(r.stderr).toMatch(/^waiting for 'ci-20260101' to become active at 2026-01-01 10:30 UTC: 1m left$/m);
    expect(r.stderr).toMatch(/Rotated: 'ci-20260101' is active; 'ci' is deleted/);
    expect(await a.names('2026-01-01T10:31:00Z')).toEqual(['default:active', 'ci-20260101:active']);
  });
});

describe('audit trail tampering through the binary', () => {
  it.each([
    ['edit', (l: string[]) => (l[1] = l[1]!.replace('"default"', '"defaulx"')), 2],
    ['delete', (l: string[]) => l.splice(2, 1), 3],
    ['reorder', (l: string[]) => ([l[1], l[2]] = [l[2]!, l[1]!]), 2],
  ])('log --verify detects a line %s (exit 9, naming the first bad line)', async (_what, tamper, line) => {
    const a = await account();
    await runBin(['get', 'default'], { env: a.at('2026-01-01T09:10:00Z') });
    const ok = await runBin(['log', '--verify'], { env: a.at('2026-01-01T09:10:00Z') });
    expect(ok.code).toBe(0);
    // The verdict is the result: on stdout, nothing on stderr.
    expect(ok.stdout).toMatch(/^audit trail intact: 4 events, the last at 2026-01-01T09:10:00.000Z\n$/);
    expect(ok.stderr).toBe('');
    const lines = readFileSync(a.log, 'utf8').trimEnd().split('\n');
    tamper(lines);
    writeFileSync(a.log, lines.join('\n') + '\n');
    const bad = await runBin(['log', '--verify'], { env: a.at('2026-01-01T09:10:00Z') });
    expect(bad.code).toBe(9);
    expect(bad.stderr).toMatch(new RegExp(`^error: audit trail line ${line}: `));
    expect(bad.stdout).toMatch(new RegExp(`^audit trail NOT intact: line ${line}: `));
  });

  it('records every change and retrieval, never a value', async () => {
    const a = await account();
    const value = (await runBin(['get', 'default'], { env: a.at('2026-01-01T09:10:00Z') })).stdout;
    await runBin(['rename', 'ci', 'ci2'], { env: a.at('2026-01-01T09:11:00Z') });
    await runBin(['delete', 'ci2', '--confirm', 'Delete token'], { env: a.at('2026-01-01T09:12:00Z') });
    const log = await runBin(['log'], { env: a.at('2026-01-01T09:13:00Z') });
    const actions = log.stdout.trim().split('\n').map((l) => l.split('\t')[3]);
    expect(actions).toEqual(['account.init', 'token.create', 'token.create', 'token.reveal', 'token.rename', 'token.delete']);
    expect(log.stdout).toMatch(/\tos:\w+\t/);
    expect(readFileSync(a.log, 'utf8')).not.toContain(value);
  });
});
