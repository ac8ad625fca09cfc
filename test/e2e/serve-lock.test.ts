import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin, startServe } from '../helpers/bin.js';
import { accountEnv, tempHome } from '../helpers/env.js';

// One `tokenctl serve` per SQLite data directory, as a user runs it.
async function dataDir() {
  const home = tempHome();
  const env = accountEnv(home);
  const data = path.join(home, 'data');
  const init = await runBin(['server', 'init', '--data', data], { env });
  expect(init.code).toBe(0);
  return { env, data };
}

describe('serve on a SQLite data directory', () => {
  it('refuses a second serve on the same directory, naming the process that holds it (exit 8)', async () => {
    const { env, data } = await dataDir();
    const first = await startServe(env, data);
    const second = await runBin(['serve', '--data', data, '--port', '0'], { env });
    expect(second.code).toBe(8);
    expect(second.stdout).toBe('');
    const lines = second.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`another tokenctl serve \\(pid ${first.child.pid} on .*\\) is using the data directory .*; stop it first`));
    // The first one is unaffected.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    // Stopped cleanly, it leaves no lock behind: the next serve starts.
    const third = await startServe(env, data);
    expect((await fetch(`${third.url}/healthz`)).status).toBe(200);
  });

  it('takes over a lock whose pid now belongs to another process (a crash, then pid reuse)', async () => {
    const { env, data } = await dataDir();
    // This test runner's pid is alive, but it is not the process that wrote the lock: its start time differs.
    writeFileSync(path.join(data, 'serve.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: '1', at: '2026-01-01T00:00:00.000Z' }) + '\n', { mode: 0o600 });
    const served = await startServe(env, data);
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
  });
});
