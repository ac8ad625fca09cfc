// The environments tests give tokenctl: a temp TOKENCTL_HOME, a master key, no keychain, no colour.
// test/helpers/bin.ts runs the built binary in them; the in-process tests use them directly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';

/** A fresh temp directory, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-test-'));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh TOKENCTL_HOME per test, removed afterwards. */
export function tempHome(): string {
  return tempDir();
}

export function newMasterKeyB64(): string {
  return randomBytes(32).toString('base64');
}

/**
 * An environment with no keychain, so tests never touch the developer's real one unless they mean to (those
 * tests build their own env with keychainEnv() from test/helpers/keychain.ts). No master key: add one, or see
 * accountEnv.
 */
export function baseEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1', ...extra };
}

/**
 * The whole environment of a user's shell for one account: PATH, HOME and TOKENCTL_HOME at `home`, a fresh master
 * key, no keychain, no colour. Complete on its own, so it also serves processes other than tokenctl (a shell,
 * `script`, a completion shim).
 */
export function accountEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...baseEnv(home, { TOKENCTL_MASTER_KEY: newMasterKeyB64(), ...extra }) };
}
