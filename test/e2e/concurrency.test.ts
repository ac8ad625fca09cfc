import { describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { runBin } from '../helpers/bin.js';
import { baseEnv, newMasterKeyB64, tempHome } from '../helpers/env.js';

describe('concurrent processes on one store', () => {
  it('20 simultaneous creates leave exactly 2 tokens, 18 clean limit errors, and a valid store', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    expect((await runBin(['init', '--no-default-token'], { env })).code).toBe(0);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => runBin(['create', '--type', 's2s', '--name', `ci-${i}`], { env, timeoutMs: 60_000 })),
    );
    const ok = results.filter((r) => r.code === 0);
    const limited = results.filter((r) => r.code === 4);
    expect(ok).toHaveLength(2);
    expect(limited).toHaveLength(18);
    for (const r of limited) {
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^error: type s2s already has 2 live tokens/);
    }
    const list = await runBin(['list', '--json'], { env });
    expect(list.code).toBe(0);
    const tokens = JSON.parse(list.stdout);
    expect(tokens).toHaveLength(2);
    expect(new Set(ok.map((r) => r.stdout.trim())).size).toBe(2);
    expect(readdirSync(path.join(home, 'profiles', 'default')).sort()).toEqual(['audit.log', 'store.json']);
  });

  it('recovers a lock left behind by a process that died', async () => {
    const home = tempHome();
    const env = baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64() });
    await runBin(['init'], { env });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lock = path.join(home, 'profiles', 'default', 'store.lock');
    writeFileSync(lock, JSON.stringify({ pid: Number(dead.stdout), host: hostname(), nonce: 'dead', at: Date.now() }), { mode: 0o600 });
    // Had it waited for the lock to turn stale by age (30 s), it would have given up at its 20 s timeout.
    const r = await runBin(['create', '--type', 's2s', '--name', 'after-crash'], { env, timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(path.dirname(lock))).not.toContain('store.lock');
  });
});
