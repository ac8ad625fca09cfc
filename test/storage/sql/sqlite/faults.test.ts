import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openRawDatabase, testSqliteDriver } from '../../../helpers/sqlite.js';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../../../src/core/clock.js';
import { exitCodeFor, StorageUnavailableError } from '../../../../src/core/errors.js';
import { SqliteStorage } from '../../../../src/storage/sql/sqlite/storage.js';
import { LATEST_SQLITE_VERSION } from '../../../../src/storage/sql/sqlite/migrations.js';
import { createAccount, TokenService } from '../../../../src/tokens/token-service.js';

const driver = await testSqliteDriver();
let dir: string;
const opened: { close(): void }[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

function open(file: string, key: Buffer, busyWaitMs?: number) {
  const s = SqliteStorage.open(driver, file, key, { busyWaitMs });
  opened.push(s);
  return s;
}

describe(`SQLite storage faults (${driver.name})`, () => {
  it('answers a write blocked by another connection with a 503 after a bounded wait, without blocking the event loop; reads go on', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-sqlite-lock-'));
    const file = path.join(dir, 'tokenctl.db');
    const key = randomBytes(32);
    const clock = manualClock('2026-03-01T10:00:00.000Z');
    const storage = open(file, key, 300);
    const { account } = await createAccount(storage, { name: 'acme', defaultToken: true }, { clock, actor: 't' });
    const service = new TokenService({ storage, accountId: account.id, actor: 't', clock });

    // Another process (an sqlite3 shell, a backup, a second service) holds the write lock.
    const other = await openRawDatabase(file);
    opened.push(other);
    other.exec('BEGIN IMMEDIATE');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = Date.now();
    const error = await service.create({ type: 's2s', name: 'blocked' }).then(
      () => null,
      (e: unknown) => e,
    );
    const waited = Date.now() - started;
    clearInterval(ticker);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).retryAfterSeconds).toBe(1);
    expect(exitCodeFor(error)).toBe(8);
    expect(String((error as Error).message)).toMatch(/locked by another process; nothing was changed/);
    // It gives up when its next retry would end past the 300 ms: after 200 ms at the earliest (retries back off to 100 ms).
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(2_000);
    // The event loop kept running while the write waited (a synchronous busy timeout would have frozen it).
    expect(ticks).toBeGreaterThan(5);
    // Reads need no write lock: served while it is held.
    expect((await service.list()).map((t) => t.name)).toEqual(['default']);

    other.exec('ROLLBACK');
    expect((await service.create({ type: 's2s', name: 'after' })).token.name).toBe('after');
  });

  it('refuses a file that is not a database, naming it (exit 9)', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-sqlite-corrupt-'));
    const file = path.join(dir, 'tokenctl.db');
    writeFileSync(file, Buffer.alloc(8192, 'not a database '));
    let error: unknown;
    try {
      open(file, randomBytes(32));
    } catch (e) {
      error = e;
    }
    expect(exitCodeFor(error)).toBe(9);
    expect(String((error as Error).message)).toContain(file);
  });

  it('refuses a schema newer than it knows, naming both versions; a known one is not migrated again', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-sqlite-schema-'));
    const file = path.join(dir, 'tokenctl.db');
    const key = randomBytes(32);
    open(file, key).close();
    const raw = await openRawDatabase(file);
    expect(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: String(LATEST_SQLITE_VERSION) });
    raw.prepare("UPDATE meta SET value = '7' WHERE key = 'schema_version'").run();
    raw.close();
    expect(() => open(file, key)).toThrow(new RegExp(`schema version 7; this tokenctl knows versions up to ${LATEST_SQLITE_VERSION}`));
  });

  it('refuses another server key than the one the database was made with (exit 9)', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-sqlite-key-'));
    const file = path.join(dir, 'tokenctl.db');
    open(file, randomBytes(32)).close();
    let error: unknown;
    try {
      open(file, randomBytes(32));
    } catch (e) {
      error = e;
    }
    expect(exitCodeFor(error)).toBe(9);
    expect(String((error as Error).message)).toMatch(/not the key the database/);
  });
});
