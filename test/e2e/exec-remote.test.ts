// exec, get, scan and completion on the HTTP backend: a real `tokenctl serve` on 127.0.0.1, port 0.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, BIN, runTokenctl, tempDir } from '../exec/tokenctl-bin.js';

beforeAll(assertBuilt);

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function serve(env: Record<string, string>, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--data', data, '--port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    running.push(child);
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
}

describe('on the HTTP backend', () => {
  it('get masks under Actions, exec passes and masks values, scan says live, completion lists names', async () => {
    const home = tempDir();
    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };
    const data = path.join(home, 'service');
    const init = await runTokenctl(['server', 'init', '--data', data], { env: base });
    expect(init.code).toBe(0);
    const url = await serve(base, data);
    const env = { ...base, TOKENCTL_SERVER: url, TOKENCTL_ADMIN_KEY: init.stdout.trim() };

    const get = await runTokenctl(['get', 'default'], { env: { ...env, GITHUB_ACTIONS: 'true' } });
    expect(get.code).toBe(0);
    const value = get.stdout;
    expect(value).toMatch(/^eyJ/);
    expect(get.stderr).toBe(`::add-mask::${value}\n`);

    const exec = await runTokenctl(['exec', '--token', 'default=API', '--mask', '--', process.execPath, '-e', 'console.log("t=" + process.env.API); process.exit(4)'], { env });
    expect([exec.code, exec.stdout]).toEqual([4, 't=***\n']);
    const plain = await runTokenctl(['exec', '--token', 'default', '--', process.execPath, '-e', 'process.stdout.write(process.env.TOKENCTL_DEFAULT)'], { env });
    expect(plain.stdout).toBe(value);

    const scan = await runTokenctl(['scan', '--stdin', '--json'], { env, input: `Authorization: Bearer ${value}\n` });
    expect(scan.code).toBe(6);
    expect(JSON.parse(scan.stdout)).toMatchObject([{ line: 1, column: 23, type: 'api', live: 'yes', token: { name: 'default' } }]);

    expect((await runTokenctl(['__complete', 'tokens'], { env })).stdout).toBe('default\n');

    // The service gone: scan still works and says unknown; completion stays silent.
    const down = { ...env, TOKENCTL_SERVER: 'http://127.0.0.1:1' };
    const offline = await runTokenctl(['scan', '--stdin', '--json'], { env: down, input: value });
    expect(offline.code).toBe(6);
    expect(JSON.parse(offline.stdout)).toMatchObject([{ live: 'unknown' }]);
    expect(offline.stderr).toMatch(/reported as unknown/);
    expect(offline.stderr).not.toContain(value);
    const quiet = await runTokenctl(['__complete', 'tokens'], { env: down });
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
  });
});
