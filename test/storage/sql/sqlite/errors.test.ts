// SQLite's result codes by name from either driver: better-sqlite3 names them, node:sqlite numbers them. The storage
// and the service's error mapping read them through sqliteErrorCode, so a locked database is a 503 with either.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sqliteCodeName, sqliteErrorCode } from '../../../../src/storage/sql/sqlite/errors.js';
import { testSqliteDriver } from '../../../helpers/sqlite.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tokenctl-sqlite-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const driver = await testSqliteDriver();

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('it did not throw');
};

describe(`SQLite error codes (${driver.name})`, () => {
  it('names what this driver raises: a unique constraint, a lock held by another connection, SQL it cannot run', () => {
    const file = path.join(dir, 'codes.db');
    const a = driver.open(file);
    const b = driver.open(file);
    try {
      a.exec('PRAGMA journal_mode = WAL');
      a.exec('CREATE TABLE t (name TEXT UNIQUE)');
      a.prepare('INSERT INTO t VALUES (?)').run('x');
      expect(sqliteErrorCode(thrown(() => a.prepare('INSERT INTO t VALUES (?)').run('x')))).toBe('SQLITE_CONSTRAINT_UNIQUE');
      b.exec('PRAGMA busy_timeout = 0');
      a.exec('BEGIN IMMEDIATE');
      expect(sqliteErrorCode(thrown(() => b.exec('BEGIN IMMEDIATE')))).toBe('SQLITE_BUSY');
      a.rollback();
      a.rollback(); // nothing open any more: nothing to do, no error
      expect(sqliteErrorCode(thrown(() => a.exec('SELECT * FROM missing')))).toBe('SQLITE_ERROR');
    } finally {
      a.close();
      b.close();
    }
  });

  it('reads either shape, and nothing else', () => {
    expect(sqliteErrorCode(Object.assign(new Error('x'), { code: 'SQLITE_IOERR_WRITE' }))).toBe('SQLITE_IOERR_WRITE');
    expect(sqliteErrorCode(Object.assign(new Error('x'), { code: 'ERR_SQLITE_ERROR', errcode: 778 }))).toBe('SQLITE_IOERR_WRITE');
    expect(sqliteErrorCode(Object.assign(new Error('x'), { code: 'ENOENT', errcode: 5 }))).toBeUndefined();
    expect(sqliteErrorCode('SQLITE_BUSY')).toBeUndefined();
    expect(sqliteErrorCode(null)).toBeUndefined();
  });

  it("follows sqlite3.h's numbering: the primary code in the low byte, the variant above it", () => {
    expect(sqliteCodeName(5)).toBe('SQLITE_BUSY');
    expect(sqliteCodeName(517)).toBe('SQLITE_BUSY_SNAPSHOT');
    expect(sqliteCodeName(13)).toBe('SQLITE_FULL');
    expect(sqliteCodeName(26)).toBe('SQLITE_NOTADB');
    expect(sqliteCodeName(1032)).toBe('SQLITE_READONLY_DBMOVED');
    expect(sqliteCodeName(2067)).toBe('SQLITE_CONSTRAINT_UNIQUE');
    expect(sqliteCodeName(8714)).toBe('SQLITE_IOERR_IN_PAGE');
    expect(sqliteCodeName(14 | (9 << 8))).toBe('SQLITE_CANTOPEN'); // a variant it does not know: the primary code
    expect(sqliteCodeName(99)).toBeUndefined();
  });
});
