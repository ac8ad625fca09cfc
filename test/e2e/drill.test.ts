// Drills with TOKENCTL_NOW, through the built binary (issue 12): the first token is usable at once, a drill on a
// real store and a drill against a service say what they do.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin, startServe } from '../helpers/bin.js';
import { accountEnv, baseEnv, tempHome } from '../helpers/env.js';

const NOW = '2026-06-01T00:00:00Z';
const warning = /warning: TOKENCTL_NOW=.* is set, but the store in .* was not created in a drill/;

describe('drills with a fixed TOKENCTL_NOW', () => {
  it('the default token is active at once: every command of the drill runs at the same instant', async () => {
    const env = accountEnv(tempHome(), { TOKENCTL_NOW: NOW });
    const init = await runBin(['init'], { env });
    expect(init.code, init.stderr).toBe(0);
    for (let i = 0; i < 3; i++) {
      const list = JSON.parse((await runBin(['list', '--json'], { env })).stdout);
      expect(list[0]).toMatchObject({ name: 'default', status: 'active', createdAt: '2026-06-01T00:00:00.000Z', activatesAt: '2026-06-01T00:00:00.000Z' });
      const get = await runBin(['get', 'default'], { env });
      expect(get.code, get.stderr).toBe(0);
      expect(get.stderr).not.toMatch(warning);
    }
    const created = await runBin(['create', '--type', 's2s', '--name', 'ci'], { env });
    expect(created.code).toBe(0);
    expect(created.stderr).not.toMatch(warning); // a drill's own store
    const ci = JSON.parse((await runBin(['list', '--json'], { env })).stdout).find((t: { name: string }) => t.name === 'ci');
    expect(ci).toMatchObject({ status: 'pending', activatesAt: '2026-06-01T00:30:00.000Z' });
  });

  it('warns when a drill writes into a store that was not created in one, and says nothing without TOKENCTL_NOW', async () => {
    const env = accountEnv(tempHome());
    expect((await runBin(['init'], { env })).code).toBe(0);
    const real = await runBin(['create', '--type', 's2s', '--name', 'real'], { env });
    expect(real.stderr).not.toMatch(/TOKENCTL_NOW/);
    const drill = await runBin(['create', '--type', 's2s', '--name', 'drill'], { env: { ...env, TOKENCTL_NOW: '2030-01-01T00:00:00Z' } });
    expect(drill.code).toBe(0);
    expect(drill.stderr).toMatch(warning);
    expect(drill.stderr).toMatch(/recorded at 2030-01-01T00:00:00.000Z for good.*Run drills in their own TOKENCTL_HOME/);
    // Reading under a drill changes nothing, so it does not warn.
    const list = await runBin(['list'], { env: { ...env, TOKENCTL_NOW: '2030-01-01T00:00:00Z' } });
    expect(list.stderr).not.toMatch(warning);
  });

  it('a drill store is marked as one; a real store is not', async () => {
    const drillHome = tempHome();
    await runBin(['init'], { env: accountEnv(drillHome, { TOKENCTL_NOW: NOW }) });
    const realHome = tempHome();
    await runBin(['init'], { env: accountEnv(realHome) });
    const store = (home: string) => JSON.parse(readFileSync(path.join(home, 'profiles', 'default', 'store.json'), 'utf8'));
    expect(store(drillHome).drill).toBe(true);
    expect('drill' in store(realHome)).toBe(false);
  });

  it('against a token service: only the service clock counts, and the CLI says so', async () => {
    const home = tempHome();
    const data = path.join(home, 'data');
    const env = baseEnv(home, { TOKENCTL_NOW: NOW });
    const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
    const serve = await startServe(env, data);
    const remote = { ...env, TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: admin };
    const get = await runBin(['get', 'default'], { env: remote });
    expect(get.code, get.stderr).toBe(0); // the service's drill: default active at once there too
    expect(get.stderr).toMatch(/warning: TOKENCTL_NOW is set, but the token service http:\/\/127\.0\.0\.1:\d+ keeps its own clock/);
    const real: Record<string, string> = { ...remote };
    delete real.TOKENCTL_NOW;
    expect((await runBin(['list'], { env: real })).stderr).not.toMatch(/TOKENCTL_NOW/);
  });
});

describe('notifications in a drill', () => {
  it("the time-based events follow the service's TOKENCTL_NOW: token.stale_soon, then token.stale, signed with the real time", async () => {
    const { startReceiver } = await import('../helpers/receiver.js');
    const receiver = await startReceiver();
    try {
      const home = tempHome();
      const data = path.join(home, 'service-data');
      const start = Date.parse('2026-01-01T00:00:00Z');
      const at = (days: number, hours = 0) => new Date(start + days * 86_400_000 + hours * 3_600_000).toISOString();
      const env = baseEnv(home, { TOKENCTL_NOW: at(0) });
      const admin = (await runBin(['server', 'init', '--data', data, '--account', 'acme'], { env })).stdout.trim();
      const serveAt = async (when: string) => startServe({ ...env, TOKENCTL_NOW: when, TOKENCTL_WEBHOOK_ALLOW: 'loopback' }, data);
      let serve = await serveAt(at(0));
      const remote = { ...env, TOKENCTL_SERVER: serve.url, TOKENCTL_ADMIN_KEY: admin };
      const added = await runBin(['webhooks', 'add', receiver.url, '--event', 'token.stale_soon,token.stale'], { env: remote });
      expect(added.code, added.stderr).toBe(0);
      receiver.useSecret(added.stdout.trim());
      serve.child.kill('SIGTERM');
      await new Promise((r) => serve.child.once('exit', r));
      for (const [days, type] of [
        [166, 'token.stale_soon'],
        [180, 'token.stale'],
      ] as const) {
        serve = await serveAt(at(days, 1));
        const deadline = Date.now() + 15_000;
        while (!receiver.deliveries.some((d) => d.payload?.type === type) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        serve.child.kill('SIGTERM');
        await new Promise((r) => serve.child.once('exit', r));
      }
      expect(receiver.deliveries.map((d) => [d.verified, d.payload?.type, d.payload?.data.token.name])).toEqual([
        [true, 'token.stale_soon', 'default'],
        [true, 'token.stale', 'default'],
      ]);
      expect(receiver.deliveries[0]!.payload!.timestamp.slice(0, 10)).toBe('2026-06-16');
      expect(receiver.deliveries[0]!.payload!.data).toMatchObject({ staleAt: '2026-06-30T00:00:00.000Z' });
    } finally {
      await receiver.close();
    }
  });
});
