import { afterEach, describe, expect, it } from 'vitest';
import { httpBackendFor } from '../../src/backends/http/select.js';
import { runCli } from '../../src/cli.js';
import type { Deps } from '../../src/deps.js';
import { captureIO } from '../../src/ui/io.js';
import { scriptedPrompter } from '../helpers/deps.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MIN = 60_000;
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The CLI in-process against the real token service (the HTTP backend): only the service's clock counts. */
async function remoteCli() {
  server = await startTestServer();
  const { credential } = await server.initAccount();
  const env = { TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential, TOKENCTL_KEYCHAIN: 'off' };
  const s = server;
  return {
    server: s,
    async run(argv: string[]) {
      const io = captureIO({ tty: false });
      const deps: Deps = {
        io,
        env,
        clock: s.clock,
        prompter: () => scriptedPrompter([]),
        backend: async (g) => httpBackendFor(env, g.profile)!,
        sleep: async (ms) => s.clock.advance(ms),
        crashPoint: () => {},
      };
      const code = await runCli(argv, deps);
      return { code, stdout: io.stdout(), stderr: io.stderr() };
    },
  };
}

describe('rotation endings against the token service', () => {
  it('too early exits 5; after completion --resume says it is complete and which token replaced it', async () => {
    const cli = await remoteCli();
    expect((await cli.run(['create', '--type', 's2s', '--name', 'ci'])).code).toBe(0);
    cli.server.clock.advance(31 * MIN);
    expect((await cli.run(['rotate', 'ci', '--name', 'ci-next'])).code).toBe(0);
    const early = await cli.run(['rotate', 'ci', '--resume', '--confirm', 'Delete token']);
    expect(early.code, early.stderr).toBe(5);
    expect(early.stderr).toMatch(/cannot finish yet: 'ci-next' becomes active at .*Finish then with: tokenctl rotate ci --resume --confirm "Delete token"/);
    cli.server.clock.advance(31 * MIN);
    expect((await cli.run(['rotate', 'ci', '--resume', '--confirm', 'Delete token'])).code).toBe(0);
    const again = await cli.run(['rotate', 'ci', '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/is already complete: 'ci-next' replaced it on .*; nothing left to do/);
  });
});
