import { BackendUnavailableError } from '../core/errors.js';

/** The OS keychain, through @napi-rs/keyring, loaded only when a command needs a secret from it. */
export interface Keychain {
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

export const KEYCHAIN_SERVICE = 'tokenctl';
const DEFAULT_TIMEOUT_MS = 5_000;

type Env = Record<string, string | undefined>;

/**
 * A cheap check before loading the native binding: on Linux the Secret Service lives on the D-Bus session
 * bus, so without one there is no keychain (and probing would only wait for a timeout).
 * TOKENCTL_KEYCHAIN=off disables the keychain everywhere.
 */
export function keychainMayExist(env: Env, platform: NodeJS.Platform = process.platform): boolean {
  if (env.TOKENCTL_KEYCHAIN === 'off') return false;
  if (platform === 'linux') return Boolean(env.DBUS_SESSION_BUS_ADDRESS);
  return platform === 'darwin' || platform === 'win32';
}

function timeoutMs(env: Env): number {
  const n = Number(env.TOKENCTL_KEYCHAIN_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_TIMEOUT_MS;
}

async function withTimeout<T>(ms: number, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new BackendUnavailableError(`the OS keychain did not answer within ${ms} ms while ${what}; unlock it, or set TOKENCTL_MASTER_KEY`));
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } catch (cause) {
    if (cause instanceof BackendUnavailableError) throw cause;
    throw new BackendUnavailableError(
      `the OS keychain failed while ${what} (${cause instanceof Error ? cause.message : String(cause)}); unlock it, or set TOKENCTL_MASTER_KEY`,
      { cause },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** What an entry holds, for messages: "the master key" (master-key/<account>) or "a saved server credential". */
function what(account: string): string {
  return account.startsWith('master-key/') ? 'the master key' : account.startsWith('server-credential/') ? 'a saved server credential' : 'a secret';
}

export async function openKeychain(env: Env): Promise<Keychain> {
  const ms = timeoutMs(env);
  let mod: typeof import('@napi-rs/keyring');
  try {
    mod = await import('@napi-rs/keyring');
  } catch (cause) {
    throw new BackendUnavailableError('the OS keychain binding could not be loaded; set TOKENCTL_MASTER_KEY instead', { cause });
  }
  // Pinned to the Secret Service on Linux: unpinned, the kernel keyring may be chosen and a lookup can
  // silently return nothing.
  const entry = (account: string) => new mod.AsyncEntry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } });
  return {
    get: (account) => withTimeout(ms, `reading ${what(account)}`, (signal) => entry(account).getPassword(signal)),
    set: (account, secret) => withTimeout(ms, `saving ${what(account)}`, (signal) => entry(account).setPassword(secret, signal)),
    delete: (account) => withTimeout(ms, `removing ${what(account)}`, (signal) => entry(account).deleteCredential(signal)),
  };
}

/**
 * Saves a secret in the OS keychain and reads it back. False, after a warning that says why, when there is no
 * keychain that keeps it: the caller then falls back to a 0600 file.
 */
export async function saveInKeychain(
  env: Env,
  account: string,
  secret: string,
  warn: (message: string) => void,
  open: (env: Env) => Promise<Keychain> = openKeychain,
): Promise<boolean> {
  if (!keychainMayExist(env)) return false;
  try {
    const keychain = await open(env);
    await keychain.set(account, secret);
    if ((await keychain.get(account)) === secret) return true;
    warn(`the OS keychain did not return ${what(account)} it was given; falling back to a file`);
  } catch (error) {
    warn(`the OS keychain is not usable (${error instanceof Error ? error.message : String(error)})`);
  }
  return false;
}
