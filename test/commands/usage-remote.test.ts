// The CLI in-process against the real token service on 127.0.0.1 (the HTTP backend), with a resource server
// introspecting over HTTP: the delete screen's usage line, `usage`, the drain watch in `audit` (exit 6), `rotate`'s
// report and `--wait-unused`, and `webhooks`. Waiting moves the service's clock (the CLI waits by the service's time).
import { afterEach, describe, expect, it } from 'vitest';
import { httpBackendFor } from '../../src/backends/http/select.js';
import { runCli } from '../../src/cli.js';
import type { Deps } from '../../src/deps.js';
import { captureIO } from '../../src/ui/io.js';
import { scriptedPrompter, testCli, type Answer } from '../helpers/deps.js';
import { tempHome } from '../helpers/env.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';

const MIN = 60_000;
let server: TestServer | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await server?.close();
  await receiver?.close();
  server = undefined;
  receiver = undefined;
});

async function remoteCli(options: Parameters<typeof startTestServer>[0] = {}) {
  server = await startTestServer(options);
  const { credential } = await server.initAccount();
  const gateway = await server.addPrincipal('acme', 'service', 'edge-gw');
  const env = { TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential, TOKENCTL_KEYCHAIN: 'off' };
  const s = server;
  /** Called on every wait of the CLI (after the clock moved): a resource server still calling, say. */
  let onSleep: () => Promise<void> = async () => undefined;
  return {
    server: s,
    gateway,
    onSleep: (fn: () => Promise<void>) => void (onSleep = fn),
    /** A resource server presenting `value`, from `address` (a proxy's X-Forwarded-For is not believed here: the socket's). */
    introspect: async (value: string) => (await call(s, 'POST', '/v1/introspect', { credential: gateway, form: { token: value } })).body,
    async run(argv: string[], o: { tty?: boolean; answers?: Answer[]; columns?: number } = {}) {
      const io = captureIO({ tty: o.tty ?? false, columns: o.columns });
      const prompter = scriptedPrompter([...(o.answers ?? [])]);
      const deps: Deps = {
        io,
        env,
        clock: s.clock,
        prompter: () => prompter,
        backend: async (g) => httpBackendFor(env, g.profile)!,
        sleep: async (ms) => {
          s.clock.advance(ms);
          await onSleep();
        },
        crashPoint: () => {},
      };
      const code = await runCli(argv, deps);
      return { code, stdout: io.stdout(), stderr: io.stderr(), asked: prompter.asked };
    },
  };
}

describe('usage, where the decision is made', () => {
  it('the delete screen says who still uses the token before asking for the phrase; usage shows callers and calls per day', async () => {
    const cli = await remoteCli();
    const value = (await cli.run(['create', '--type', 's2s', '--name', 'events'])).stdout.trim();
    cli.server.clock.advance(31 * MIN);
    for (let i = 0; i < 3; i++) expect((await cli.introspect(value)).active).toBe(true);
    cli.server.clock.advance(2 * MIN);
    // The usage not written yet (batches every 5 s) is shown all the same.
    const never = await cli.run(['create', '--type', 's2s', '--name', 'spare']);
    expect(never.code).toBe(0);
    const cancelled = await cli.run(['delete', 'spare'], { tty: true, answers: ['no'] });
    expect(cancelled.stderr).toMatch(/Never used\./);
    const screen = await cli.run(['delete', 'events'], { tty: true, answers: ['no'] });
    expect(screen.code).toBe(10);
    expect(screen.stderr).toMatch(/Last used 2 minutes ago by edge-gw from 127\.0\.0\.1; 3 calls in the last 24 hours\./);
    expect(screen.stderr.indexOf('Last used 2 minutes ago')).toBeLessThan(screen.stderr.indexOf('Type "Delete token"') === -1 ? Infinity : screen.stderr.indexOf('Type "Delete token"'));
    expect(screen.asked).toEqual(['Type "Delete token" to delete it (anything else cancels)']);

    await cli.run(['get', 'events']); // a retrieval: who holds the value
    await cli.server.app.flushUsage();
    const table = await cli.run(['usage', 'events'], { tty: true, columns: 80 });
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.split('\n');
    for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^s2s token 'events' \(tok_\w+\), active$/);
    expect(lines[1]).toBe('Last used 2 minutes ago by edge-gw from 127.0.0.1; 3 calls in the last 24 hours.');
    expect(table.stdout).toMatch(/CALLER\s+ADDRESS\s+CALLS\s+LAST SEEN \(UTC\)\nedge-gw\s+127\.0\.0\.1\s+3\s+2026-03-01 10:31/);
    expect(table.stdout).toMatch(/Calls per day, 2026-01-31 to 2026-03-01 \(UTC\): 3 in all, at most 3 \(2026-03-01\)\n·{29}█/);
    expect(table.stdout).toMatch(/Retrieved once, last less than a minute ago by admin from 127\.0\.0\.1\./);
    const json = await cli.run(['usage', 'events', '--json']);
    const body = JSON.parse(json.stdout);
    expect(body.token).toMatchObject({ name: 'events', status: 'active', lastUsedAt: '2026-03-01T10:31:00.000Z' });
    expect(body.usage).toMatchObject({ tracked: true, calls24h: 3, callsPerDay: expect.any(Array), callers: expect.arrayContaining([expect.objectContaining({ kind: 'introspection', principalName: 'edge-gw', address: '127.0.0.1', calls: 3 })]) });
    expect(json.stdout).not.toContain(value);
    // list and list --json keep their shape.
    const listed = JSON.parse((await cli.run(['list', '--json'])).stdout) as Record<string, unknown>[];
    expect(Object.keys(listed[0]!)).toEqual(['id', 'name', 'type', 'status', 'stale', 'createdAt', 'activatesAt', 'deletedAt', 'rejectedAt', 'ageDays', 'rotateBy', 'lastUsedAt', 'masked']);
  });

  it('the drain watch: a rotation whose old token is still presented while it drains fails the audit gate (exit 6)', async () => {
    const cli = await remoteCli();
    const old = (await cli.run(['create', '--type', 's2s', '--name', 'events'])).stdout.trim();
    cli.server.clock.advance(31 * MIN);
    expect((await cli.run(['rotate', 'events', '--name', 'events-2'])).code).toBe(0);
    cli.server.clock.advance(31 * MIN);
    // Still presented now, just before deletion: rotate says so before it deletes.
    await cli.introspect(old);
    const done = await cli.run(['rotate', 'events', '--resume', '--confirm', 'Delete token']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/warning: 'events' is still in use \(last used less than a minute ago by edge-gw from 127\.0\.0\.1; 1 call in the last 24 hours\): what presents it fails once its drain ends/);
    expect(done.stderr.indexOf('still in use')).toBeLessThan(done.stderr.indexOf('Rotated:'));
    // Nothing presented it since the deletion: the gate passes.
    expect((await cli.run(['audit', '--fail-on-stale'])).code).toBe(0);
    // Presented during its drain: the gate fails, naming it.
    expect(await cli.introspect(old)).toMatchObject({ active: true, status: 'draining' });
    await cli.server.app.flushUsage();
    const gate = await cli.run(['audit', '--fail-on-stale']);
    expect(gate.code, gate.stderr).toBe(6);
    expect(gate.stderr).toMatch(/error: 'events' is deleted but still in use while draining \(--fail-on-stale\)/);
    expect(gate.stdout).toMatch(/CRITICAL draining-in-use\s+events\s+s2s\s+deleted, but still presented while draining: 1 call, last less than a minute ago by edge-gw from 127\.0\.0\.1; calls are rejected from 2026-03-01 11:32 UTC/);
    const json = JSON.parse((await cli.run(['audit', '--json'])).stdout);
    expect(json).toMatchObject({ ok: false, drainingInUse: 1 });
    expect(json.findings[0]).toMatchObject({ kind: 'draining-in-use', name: 'events', severity: 'critical' });
    // usage of the deleted token, by its name: the drain watch there too.
    const usage = await cli.run(['usage', 'events']);
    expect(usage.stdout).toMatch(/s2s token 'events' \(tok_\w+\), draining\n/);
    expect(usage.stdout).toMatch(/Still presented while draining: 1 call/);
    // Once the drain is over, calls fail: no longer a finding (the token is revoked).
    cli.server.clock.advance(31 * MIN);
    expect((await cli.run(['audit', '--fail-on-stale'])).code).toBe(0);
  });

  it('rotate --wait-unused waits while the old token is still used, then finishes once the calls stop (by the service clock)', async () => {
    const cli = await remoteCli();
    const old = (await cli.run(['create', '--type', 's2s', '--name', 'events'])).stdout.trim();
    cli.server.clock.advance(31 * MIN);
    expect((await cli.run(['rotate', 'events', '--name', 'events-2'])).code).toBe(0);
    cli.server.clock.advance(31 * MIN);
    // A resource server calls with the old token for a while (on each wait of the CLI: 5 s of the service's time).
    let calls = 0;
    cli.onSleep(async () => {
      if (calls++ < 60) await cli.introspect(old);
    });
    await cli.introspect(old);
    const started = cli.server.clock.now().getTime();
    const r = await cli.run(['rotate', 'events', '--resume', '--wait-unused', '10', '--confirm', 'Delete token']);
    expect(r.code, r.stderr).toBe(0);
    const waited = cli.server.clock.now().getTime() - started;
    // It called for about 5 minutes (60 waits of 5 s), then 10 minutes went by without a call.
    expect(waited).toBeGreaterThanOrEqual(15 * MIN - 10_000);
    expect(waited).toBeLessThan(16 * MIN);
    expect(r.stderr).toMatch(/waiting until 'events' has not been used for 10 min: Last used less than a minute ago by edge-gw from 127\.0\.0\.1/);
    expect(r.stderr).toMatch(/'events' has not been used for 10 minutes \(last used 10 minutes ago by edge-gw/);
    expect(r.stderr).toMatch(/Rotated: 'events-2' is active; 'events' is deleted/);
    expect(r.stderr).not.toMatch(/still in use/);
    // Never used: no wait at all. Bad values and a local store are refused before anything changes.
    const spare = await cli.run(['create', '--type', 'api', '--name', 'spare']);
    expect(spare.code).toBe(0);
    cli.server.clock.advance(31 * MIN);
    expect((await cli.run(['rotate', 'spare', '--wait-unused', 'soon'])).stderr).toMatch(/--wait-unused takes a whole number of minutes from 1 to 1440, not 'soon'; nothing was changed/);
    const local = testCli(tempHome());
    await local.run(['init']);
    const refused = await local.run(['rotate', 'default', '--wait-unused', '5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--wait-unused needs the token service: a local store cannot see calls/);
  });

  it('a local store shows the usage it knows (its own retrievals) and says the rest needs the service; webhooks need the service', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['get', 'default']);
    await cli.run(['get', 'default']);
    const r = await cli.run(['usage', 'default']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.replace(/\n(?=\S)/g, ' ')).toMatch(/^api token 'default' \(tok_\w+\), active Calls made with it: unknown here \(a local store cannot see where tokens are used; the token service records them\)\.\n Retrieved 2 times, last less than a minute ago by os:tester\.\n$/);
    expect(JSON.parse((await cli.run(['usage', 'default', '--json'])).stdout).usage).toMatchObject({ tracked: false, lastUsedAt: null, callsPerDay: [], callers: [expect.objectContaining({ kind: 'retrieval', principalName: 'os:tester', calls: 2 })] });
    const hooks = await cli.run(['webhooks', 'list']);
    expect(hooks.code).toBe(2);
    expect(hooks.stderr).toMatch(/webhooks need the token service: notifications are sent by `tokenctl serve`/);
  });
});

describe('tokenctl webhooks, through the API', () => {
  it('add prints the secret alone, once; list, test (delivered and verified), log and remove', async () => {
    const cli = await remoteCli({ notify: { everyMs: 0, lifecycleEveryMs: 0, allow: ['loopback'] } });
    receiver = await startReceiver();
    const added = await cli.run(['webhooks', 'add', receiver.url, '--event', 'token.deleted,token.used_while_draining', '--description', 'pager']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^whsec_[A-Za-z0-9+/=]+\n$/);
    const secret = added.stdout.trim();
    expect(added.stderr).not.toContain(secret);
    expect(added.stderr).toMatch(/✔ Added webhook (wh_\w+) for http:\/\/127\.0\.0\.1:\d+\/hook \(token\.deleted, token\.used_while_draining\)/);
    const id = /Added webhook (wh_\w+)/.exec(added.stderr)![1]!;
    receiver.useSecret(secret);
    const tested = await cli.run(['webhooks', 'test', id]);
    expect(tested.code, tested.stderr).toBe(0);
    expect(tested.stderr).toMatch(new RegExp(`✔ Delivered to ${id}: HTTP 200 in \\d+ ms`));
    expect(receiver.deliveries).toHaveLength(1);
    expect(receiver.deliveries[0]).toMatchObject({ verified: true, payload: { type: 'webhook.test' } });
    const table = await cli.run(['webhooks', 'list'], { tty: true, columns: 80 });
    for (const line of table.stdout.split('\n')) expect([...line].length, line).toBeLessThanOrEqual(80);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+http://127\\.0\\.0\\.1:\\d+/hook\\s+2 of 8\\s+delivered`));
    expect(table.stdout).toMatch(/delivered \(HTTP 200\)/);
    expect(table.stdout).toMatch(/pager/);
    expect(table.stdout).not.toContain(secret);
    const listed = JSON.parse((await cli.run(['webhooks', 'list', '--json'])).stdout);
    expect(listed[0]).toMatchObject({ id, events: ['token.deleted', 'token.used_while_draining'], deliveries: { delivered: 1 } });
    expect(JSON.stringify(listed)).not.toContain(secret);
    const log = await cli.run(['webhooks', 'log', id], { tty: true, columns: 80 });
    expect(log.stdout).toMatch(/webhook\.test\s+1\s+delivered \(HTTP 200\)/);
    // A receiver that refuses: test says so (exit 8) and that the service retries.
    receiver.answer(500);
    const failing = await cli.run(['webhooks', 'test', id]);
    expect(failing.code).toBe(8);
    expect(failing.stderr).toMatch(/the receiver did not take test notification msg_\w+: HTTP 500; the service retries it/);
    expect((await cli.run(['webhooks', 'add', 'http://example.com/x'])).stderr).toMatch(/must use https:\/\//);
    expect((await cli.run(['webhooks', 'add', receiver.url, '--event', 'token.nope'])).code).toBe(2);
    const removed = await cli.run(['webhooks', 'remove', id]);
    expect(removed.code).toBe(0);
    expect(removed.stderr).toMatch(new RegExp(`✔ Removed webhook ${id}`));
    expect((await cli.run(['webhooks', 'remove', id])).code).toBe(3);
    expect((await cli.run(['webhooks', 'remove', '../x'])).code).toBe(2);
  });
});
