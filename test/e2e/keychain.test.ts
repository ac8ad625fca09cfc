import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runBin } from '../helpers/bin.js';
import { tempHome } from '../helpers/env.js';
import { openKeychain } from '../../src/secrets/keychain.js';
import { keychainEnv, keychainRequired, keychainUnavailable } from '../helpers/keychain.js';

/**
 * Runs against the real OS keychain (gnome-keyring's Secret Service in CI, see .ci/run). On a machine without
 * one it skips, unless TOKENCTL_REQUIRE_KEYCHAIN=1 (set by CI), which turns the skip into a failure.
 */
const unavailable = await keychainUnavailable('tokenctl-test-probe');
const required = keychainRequired;

describe('master key in the real OS keychain', () => {
  if (unavailable && required) {
    it('is required here (TOKENCTL_REQUIRE_KEYCHAIN=1) but not available', () => {
      throw new Error(`no usable OS keychain: ${unavailable}`);
    });
    return;
  }

  it.skipIf(unavailable !== null)(`stores the master key in the keychain, not on disk${unavailable ? ` (skipped: ${unavailable})` : ''}`, async () => {
    const home = tempHome();
    const env: Record<string, string> = { TOKENCTL_HOME: home, NO_COLOR: '1' };
    Object.assign(env, keychainEnv());
    const init = await runBin(['init'], { env });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).not.toMatch(/warning/);
    const dir = path.join(home, 'profiles', 'default');
    expect(existsSync(path.join(dir, 'master.key'))).toBe(false);
    const doc = JSON.parse(readFileSync(path.join(dir, 'store.json'), 'utf8'));
    expect(doc.keySource).toBe('keychain');

    const got = await runBin(['get', 'default'], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(/^eyJ/);

    // The key lives in the keychain under the account id.
    const kc = await openKeychain(process.env);
    const account = `master-key/${doc.account.id}`;
    expect(await kc.get(account)).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    // Without a reachable keychain the store cannot be decrypted: exit 8, and it says what to do.
    const { DBUS_SESSION_BUS_ADDRESS: _, ...noBus } = env;
    const locked = await runBin(['get', 'default'], { env: noBus });
    expect(locked.code).toBe(8);
    expect(locked.stderr).toMatch(/keychain.*TOKENCTL_MASTER_KEY/);
    // Listing needs no key.
    expect((await runBin(['list', '--json'], { env: noBus })).code).toBe(0);

    expect(await kc.delete(account)).toBe(true);
    const gone = await runBin(['get', 'default'], { env });
    expect(gone.code).toBe(9);
    expect(gone.stderr).toMatch(/missing from the OS keychain/);
  });
});
