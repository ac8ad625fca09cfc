// Interactive `tokenctl create` offers OneLink only to an account that has the feature (OneLink is premium): the
// backend says which features the account has (the token service through whoami; a local store has every one).
import { afterEach, describe, expect, it } from 'vitest';
import { httpBackendFor } from '../../src/backends/http/select.js';
import { runCli } from '../../src/cli.js';
import type { Feature } from '../../src/core/features.js';
import type { Deps } from '../../src/deps.js';
import { captureIO } from '../../src/ui/io.js';
import { scriptedPrompter, testCli, type Answer } from '../helpers/deps.js';
import { tempHome } from '../helpers/env.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The CLI in-process against the real token service, for an account with these features. */
async function remoteCli(features: Feature[]) {
  server = await startTestServer();
  const { credential } = await server.initAccount({ features });
  const env = { TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential, TOKENCTL_KEYCHAIN: 'off' };
  const s = server;
  return {
    async run(argv: string[], opts: { tty?: boolean; answers?: Answer[] } = {}) {
      const io = captureIO({ tty: opts.tty ?? false });
      const prompter = scriptedPrompter([...(opts.answers ?? [])]);
      const deps: Deps = {
        io,
        env,
        clock: s.clock,
        prompter: () => prompter,
        backend: async (g) => httpBackendFor(env, g.profile)!,
        sleep: async (ms) => s.clock.advance(ms),
        crashPoint: () => {},
      };
      const code = await runCli(argv, deps);
      return { code, stdout: io.stdout(), stderr: io.stderr(), asked: prompter.asked };
    },
  };
}

const NOT_OFFERED = /Not offered: onelink \(OneLink API tokens are a premium feature, and this account does not have it\)/;

describe('interactive create and premium features', () => {
  it('does not offer onelink to a service account without OneLink, and says why, before asking a name', async () => {
    const cli = await remoteCli([]);
    // the strict fake refuses an answer that is not among the choices: onelink is not offered
    const refused = await cli.run(['create'], { tty: true, answers: ['onelink'] });
    expect(refused.code).toBe(1);
    expect(refused.asked).toEqual(['Token type']);
    expect(refused.stderr).toMatch(NOT_OFFERED);
    const ok = await cli.run(['create'], { tty: true, answers: ['s2s', 'events'] });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.asked).toEqual(['Token type', 'Token name']);
    expect(ok.stderr).toMatch(NOT_OFFERED);
    // Without a prompt, the service refuses it as before: exit 7, a premium feature.
    const direct = await cli.run(['create', '--type', 'onelink', '--name', 'links']);
    expect(direct.code).toBe(7);
    expect(direct.stderr).toMatch(/premium feature/);
  });

  it('offers onelink to a service account with OneLink', async () => {
    const cli = await remoteCli(['onelink']);
    const r = await cli.run(['create'], { tty: true, answers: ['onelink', 'links'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Not offered/);
    expect(r.stdout).toMatch(/^tctl_ol_/);
  });

  it('with every type it may create full and onelink not allowed, says both before asking anything (exit 4)', async () => {
    const cli = await remoteCli([]);
    for (const [t, n] of [['api', 'a2'], ['s2s', 's1'], ['s2s', 's2']]) expect((await cli.run(['create', '--type', t!, '--name', n!])).code).toBe(0);
    const r = await cli.run(['create'], { tty: true, answers: [] });
    expect(r.code).toBe(4);
    expect(r.asked).toEqual([]);
    expect(r.stderr).toMatch(/no type can be created now \(.*onelink: OneLink API tokens are a premium feature, and this account does not have it/);
  });

  it('offers onelink on a local store (its owner has every feature)', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const r = await cli.run(['create'], { tty: true, answers: ['onelink', 'links'] });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Not offered/);
  });
});
