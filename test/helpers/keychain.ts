import { keychainMayExist, openKeychain } from '../../src/secrets/keychain.js';

/**
 * Whether a real OS keychain answers here: null when it does, else why not. Keychain tests skip without one,
 * unless TOKENCTL_REQUIRE_KEYCHAIN=1 (set by CI, which runs gnome-keyring), which turns a skip into a failure.
 */
export async function keychainUnavailable(probeName: string): Promise<string | null> {
  if (!keychainMayExist(process.env)) return 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset)';
  try {
    const kc = await openKeychain({ ...process.env, TOKENCTL_KEYCHAIN_TIMEOUT_MS: '3000' });
    await kc.set(probeName, 'x');
    const back = await kc.get(probeName);
    await kc.delete(probeName);
    return back === 'x' ? null : 'the keychain did not return what was stored';
  } catch (error) {
    return (error as Error).message;
  }
}

export const keychainRequired = process.env.TOKENCTL_REQUIRE_KEYCHAIN === '1';

/** The variables a child process needs to reach the session's keychain. */
export function keychainEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR']) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}
