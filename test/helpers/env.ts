import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';

/** A fresh TOKENCTL_HOME per test, removed afterwards. */
export function tempHome(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-test-'));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function newMasterKeyB64(): string {
  return randomBytes(32).toString('base64');
}

/** An environment with no keychain, so tests never touch the developer's real one unless they mean to. */
export function baseEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1', ...extra };
}
