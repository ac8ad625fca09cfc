import { describe, expect, it } from 'vitest';
import { writeFileSync, utimesSync, existsSync } from 'node:fs';
import path from 'node:path';
import { acquireLock } from '../../../src/storage/json-file/lock.js';
import { BackendUnavailableError } from '../../../src/core/errors.js';
import { tempHome } from '../../helpers/env.js';

describe('the store lock', () => {
  it('excludes a second holder until the first releases', async () => {
    const lockPath = path.join(tempHome(), 'store.lock');
    const first = await acquireLock(lockPath);
    await expect(acquireLock(lockPath, { timeoutMs: 200 })).rejects.toThrow(BackendUnavailableError);
    await expect(acquireLock(lockPath, { timeoutMs: 200 })).rejects.toThrow(/locked by process \d+/);
    await first.release();
    const second = await acquireLock(lockPath, { timeoutMs: 200 });
    await second.assertHeld();
    await second.release();
    expect(existsSync(lockPath)).toBe(false);
  });

  it('breaks a lock older than the stale limit even if its owner looks alive', async () => {
    const lockPath = path.join(tempHome(), 'store.lock');
    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, host: 'elsewhere', nonce: 'old', at: Date.now() - 60_000 }));
    const held = await acquireLock(lockPath, { timeoutMs: 1_000, staleMs: 30_000 });
    await held.assertHeld();
    await held.release();
  });

  it('breaks an unreadable lock file only after it had time to be written', async () => {
    const lockPath = path.join(tempHome(), 'store.lock');
    writeFileSync(lockPath, '');
    await expect(acquireLock(lockPath, { timeoutMs: 150 })).rejects.toThrow(BackendUnavailableError);
    const old = new Date(Date.now() - 10_000);
    utimesSync(lockPath, old, old);
    const held = await acquireLock(lockPath, { timeoutMs: 1_000 });
    await held.release();
  });

  it('notices when its lock was taken over, so it never writes without it', async () => {
    const lockPath = path.join(tempHome(), 'store.lock');
    const held = await acquireLock(lockPath);
    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, host: 'x', nonce: 'other', at: Date.now() }));
    await expect(held.assertHeld()).rejects.toThrow(/lost the lock/);
  });
});
