import { chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreDataError } from '../../src/core/errors.js';
import { fsStep, mapFsError } from '../../src/fs/fs-errors.js';
import { ensurePrivateDir } from '../../src/fs/private-files.js';
import { processStartTime } from '../../src/fs/process-identity.js';
import { acquireLock, DEFAULT_STALE_MS, DEFAULT_TIMEOUT_MS } from '../../src/storage/json-file/lock.js';
import { tempDir } from '../helpers/env.js';

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

describe('the one mapping of filesystem errors', () => {
  const cases: Record<string, RegExp> = {
    EROFS: /the file system is read-only; set TOKENCTL_HOME to a writable directory/,
    ENOSPC: /no space left on the device .*free some space/,
    EDQUOT: /no space left on the device \(or the disk quota is used up\)/,
    EACCES: /permission denied; make \/home\/u\/.config\/tokenctl writable by you/,
    EPERM: /permission denied/,
    ENOTDIR: /a part of that path is a file, not a directory/,
    ELOOP: /too many levels of symbolic links/,
    EIO: /input\/output error/,
  };
  for (const [code, message] of Object.entries(cases)) {
    it(code, () => {
      let thrown: unknown;
      try {
        mapFsError(errno(code), 'write the token store', '/home/u/.config/tokenctl/store.json');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(StoreDataError);
      const e = thrown as StoreDataError;
      expect(e.exitCode).toBe(9);
      expect(e.message).toMatch(/^cannot write the token store \/home\/u\/.config\/tokenctl\/store.json: /);
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/Nothing was changed$/);
      expect(e.message).not.toContain('\n');
    });
  }

  it('passes anything that is not a filesystem error through unchanged (a bug stays a bug)', async () => {
    const bug = new TypeError('x is not a function');
    await expect(fsStep('write', '/p', () => Promise.reject(bug))).rejects.toBe(bug);
    const typed = new StoreDataError('already typed');
    await expect(fsStep('write', '/p', () => Promise.reject(typed))).rejects.toBe(typed);
  });
});

describe('server init on an existing directory (initdb rule)', () => {
  it('an empty directory of the user with mode 0755 is made 0700, and says so', async () => {
    const dir = path.join(tempDir(), 'data');
    mkdirSync(dir, { mode: 0o755 });
    const said: string[] = [];
    await ensurePrivateDir(dir, { fixEmptyDir: (m) => said.push(m) });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(said).toEqual([`fixed the permissions of the existing empty directory ${dir}: mode 755 -> 700`]);
  });

  it('a non-empty one is still refused, and so is one without the option', async () => {
    const dir = path.join(tempDir(), 'data');
    mkdirSync(dir, { mode: 0o755 });
    await expect(ensurePrivateDir(dir)).rejects.toThrow(/accessible by other users \(mode 755\)/);
    writeFileSync(path.join(dir, 'something'), 'x');
    await expect(ensurePrivateDir(dir, { fixEmptyDir: () => undefined })).rejects.toThrow(/accessible by other users \(mode 755\); fix it with: chmod 700/);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  it.skipIf(process.getuid?.() !== 0)("one owned by someone else is still refused, even empty", async () => {
    const dir = path.join(tempDir(), 'data');
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, 65534, 65534);
    await expect(ensurePrivateDir(dir, { fixEmptyDir: () => undefined })).rejects.toThrow(/belongs to another user/);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });
});

describe('the store lock: process identity and consistent timeouts', () => {
  it('judges a lock stale well within the wait, so a waiter outlasts a dead holder it cannot identify', () => {
    expect(DEFAULT_STALE_MS).toBeLessThan(DEFAULT_TIMEOUT_MS);
  });

  it('takes over a lock whose pid is alive but started at another time (pid reused)', async () => {
    const lock = path.join(tempDir(), 'store.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: '1', nonce: 'old', at: Date.now() }));
    const held = await acquireLock(lock, { timeoutMs: 1_000 });
    await held.assertHeld();
    await held.release();
    expect(readdirSync(path.dirname(lock))).toEqual([]);
  });

  it.skipIf(processStartTime(process.pid) === null)('waits for a running holder and gives up naming it, even when its lock is old', async () => {
    const lock = path.join(tempDir(), 'store.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: processStartTime(process.pid), nonce: 'live', at: Date.now() - 3_600_000 }));
    await expect(acquireLock(lock, { timeoutMs: 300, staleMs: 100 })).rejects.toThrow(`the token store is locked by process ${process.pid}`);
  });

  it('a lock from another host (a shared disk) is judged by its age, never longer than the wait', async () => {
    const lock = path.join(tempDir(), 'store.lock');
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'elsewhere.example', started: null, nonce: 'remote', at: Date.now() }));
    const started = Date.now();
    // Asked for a stale age longer than the wait: the wait wins, so the lock is still broken before giving up.
    const held = await acquireLock(lock, { timeoutMs: 600, staleMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(2_000);
    await held.release();
  });
});
