// exec, get, scan and completion on the HTTP backend: a real `tokenctl serve` on 127.0.0.1, port 0.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runBin, startServe } from '../helpers/bin.js';
import { tempDir } from '../helpers/env.js';

beforeAll(assertBuilt);

describe('on the HTTP backend', () => {
  it('get masks under Actions, exec passes and masks values, scan says live, completion lists names', async () => {
    const home = tempDir();
    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };
    const data = path.join(home, 'service');
    const init = await runBin(['server', 'init', '--data', data], { env: base });
    expect(init.code).toBe(0);
    const { url } = await startServe(base, data);
    const env = { ...base, TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: init.stdout.trim() };

    const get = await runBin(['get', 'default'], { env: { ...env, GITHUB_ACTIONS: 'true' } });
    expect(get.code).toBe(0);
    const value = get.stdout;
    expect(value).toMatch(/^eyJ/);
    expect(get.stderr).toBe(`::add-mask::${value}\n`);

    const exec = await runBin(['exec', '--token', 'default=API', '--mask', '--', process.execPath, '-e', 'console.log("t=" + process.env.API); process.exit(4)'], { env });
    expect([exec.code, exec.stdout]).toEqual([4, 't=***\n']);
    const plain = await runBin(['exec', '--token', 'default', '--', process.execPath, '-e', 'process.stdout.write(process.env.TOKENCTL_DEFAULT)'], { env });
    expect(plain.stdout).toBe(value);

    const scan = await runBin(['scan', '--stdin', '--json'], { env, input: `Authorization: Bearer ${value}\n` });
    expect(scan.code).toBe(6);
    expect(JSON.parse(scan.stdout)).toMatchObject([{ line: 1, column: 23, type: 'api', live: 'yes', token: { name: 'default' } }]);

    expect((await runBin(['__complete', 'tokens'], { env })).stdout).toBe('default\n');

    // The service gone: scan still works and says unknown; completion stays silent.
    const down = { ...env, TOKENCTL_SERVER: 'http://127.0.0.1:1' };
    const offline = await runBin(['scan', '--stdin', '--json'], { env: down, input: value });
    expect(offline.code).toBe(6);
    expect(JSON.parse(offline.stdout)).toMatchObject([{ live: 'unknown' }]);
    expect(offline.stderr).toMatch(/reported as unknown/);
    expect(offline.stderr).not.toContain(value);
    const quiet = await runBin(['__complete', 'tokens'], { env: down });
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
  });
});
