import { describe, expect, it } from 'vitest';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';

describe('exec never puts a value in one of tokenctl\'s own settings', () => {
  it.each(['home', 'master key', 'server', 'now', 'profile'])('a token named "%s" needs an explicit variable', async (name) => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    await cli.run(['create', '--type', 's2s', '--name', name]);
    cli.clock.advance(31 * 60_000);
    const r = await cli.run(['exec', '--token', name, '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/one of tokenctl's own settings; name the variable: --token .*=SOME_NAME/);
    // Refused before any value was retrieved: the trail shows no retrieval.
    const events = JSON.parse((await cli.run(['log', '--json'])).stdout).map((e: { action: string }) => e.action);
    expect(events).not.toContain('token.reveal');
    expect((await cli.run(['exec', '--token', `${name}=TOKEN_FOR_TEST`, '--', 'true'])).code).toBe(0);
  });
});
