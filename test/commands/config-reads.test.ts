// A command reads the saved profiles (config.json) once: the profile selection and the choice of backend share it.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli.js';
import { createDeps } from '../../src/deps.js';
import { captureIO } from '../../src/ui/io.js';
import { newMasterKeyB64, tempHome } from '../helpers/env.js';

const reads = vi.hoisted(() => [] as string[]);
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((file: Parameters<typeof actual.readFileSync>[0], ...rest: unknown[]) => {
    reads.push(String(file));
    return (actual.readFileSync as (...a: unknown[]) => unknown)(file, ...rest);
  }) as typeof actual.readFileSync;
  return { ...actual, default: { ...actual, readFileSync }, readFileSync };
});

describe('the saved profiles', () => {
  it('are read once per command', async () => {
    const home = tempHome();
    const env = { TOKENCTL_HOME: home, TOKENCTL_MASTER_KEY: newMasterKeyB64(), TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1' };
    const run = async (argv: string[]) => {
      const io = captureIO();
      const code = await runCli(argv, { ...(await createDeps(env)), io });
      return { code, stdout: io.stdout(), stderr: io.stderr() };
    };
    expect((await run(['init'])).code).toBe(0);
    writeFileSync(path.join(home, 'config.json'), JSON.stringify({ currentProfile: 'default', profiles: {} }));
    reads.length = 0;
    const r = await run(['list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
    expect(reads.filter((file) => file === path.join(home, 'config.json'))).toHaveLength(1);
  });
});
