import { describe, expect, it } from 'vitest';
import { tempHome } from '../helpers/env.js';
import { testCli } from '../helpers/deps.js';

describe('get flags (in process)', () => {
  it.each([
    { tty: false, flags: [], newline: false },
    { tty: true, flags: [], newline: true },
    { tty: true, flags: ['--no-newline'], newline: false },
    { tty: false, flags: ['--no-newline'], newline: false },
  ])('tty=$tty $flags -> newline=$newline', async ({ tty, flags, newline }) => {
    const cli = testCli(tempHome());
    expect((await cli.run(['init'])).code).toBe(0);
    const value = (await cli.run(['get', 'default'])).stdout;
    expect(value).toMatch(/^eyJ/);
    const r = await cli.run(['get', 'default', ...flags], { tty });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(newline ? `${value}\n` : value);
    expect(r.stderr).toBe('');
  });

  it('registers the mask first under GitHub Actions, whatever the flags', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['get', 'default'])).stdout;
    cli.env.GITHUB_ACTIONS = 'true';
    for (const flags of [[], ['--json'], ['--no-newline']]) {
      const r = await cli.run(['get', 'default', ...flags], { tty: true });
      expect(r.stderr).toBe(`::add-mask::${value}\n`);
    }
  });

  it('scan --stdin finds a live token of the account and exits 6 (in process)', async () => {
    const cli = testCli(tempHome());
    await cli.run(['init']);
    const value = (await cli.run(['get', 'default'])).stdout;
    const r = await cli.run(['scan', '--stdin', '--json'], { stdin: `token: ${value}\n` });
    expect(r.code).toBe(6);
    expect(JSON.parse(r.stdout)).toMatchObject([{ file: '<stdin>', line: 1, column: 8, type: 'api', live: 'yes', token: { name: 'default', status: 'active' } }]);
    expect(r.stdout + r.stderr).not.toContain(value);
    const clean = await cli.run(['scan', '--stdin'], { stdin: 'nothing\n' });
    expect([clean.code, clean.stdout]).toEqual([0, '']);
  });
});
