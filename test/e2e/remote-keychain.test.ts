import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runBin, startServe } from '../helpers/bin.js';
import { tempHome } from '../helpers/env.js';
import { openKeychain } from '../../src/secrets/keychain.js';
import { keychainEnv, keychainRequired, keychainUnavailable } from '../helpers/keychain.js';
import { keychainAccountFor } from '../../src/config/profiles-read.js';

/**
 * `tokenctl login` with the real OS keychain (gnome-keyring's Secret Service in CI, see .ci/run). Skips where
 * there is none, unless TOKENCTL_REQUIRE_KEYCHAIN=1 (CI), which turns the skip into a failure.
 */
const unavailable = await keychainUnavailable('tokenctl-test-probe-login');
const required = keychainRequired;

describe('login stores the credential in the real OS keychain', () => {
  if (unavailable && required) {
    it('is required here (TOKENCTL_REQUIRE_KEYCHAIN=1) but not available', () => {
      throw new Error(`no usable OS keychain: ${unavailable}`);
    });
    return;
  }

  it.skipIf(unavailable !== null)(`keeps it out of files${unavailable ? ` (skipped: ${unavailable})` : ''}`, async () => {
    const home = tempHome();
    const env: Record<string, string> = { TOKENCTL_HOME: home, NO_COLOR: '1' };
    Object.assign(env, keychainEnv());
    const data = path.join(home, 'data');
    const admin = (await runBin(['server', 'init', '--data', data], { env })).stdout.trim();
    const profile = `kc-${randomBytes(4).toString('hex')}`;
    try {
      const { url } = await startServe(env, data);
      const login = await runBin(['login', '--server', url, '--profile', profile], { env, input: admin });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stderr).toMatch(/credential in the OS keychain/);
      expect(existsSync(path.join(home, 'credentials', profile))).toBe(false);
      const kc = await openKeychain(process.env);
      expect(await kc.get(keychainAccountFor(profile))).toBe(admin);
      const list = await runBin(['--profile', profile, 'list', '--json'], { env });
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout)[0].name).toBe('default');
    } finally {
      await (await openKeychain(process.env)).delete(keychainAccountFor(profile)).catch(() => false);
    }
  });
});
