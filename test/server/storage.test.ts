// Choosing the service's storage: SQLite (--data) or PostgreSQL (--database / TOKENCTL_DATABASE_URL), with the server
// key a replica needs, and never a database password in a process's arguments or a message.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseStorage, postgresServerKey } from '../../src/server/storage.js';
import { describeDatabaseUrl } from '../../src/storage/sql/postgres/connect.js';
import { runBin } from '../helpers/bin.js';

const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-storage-choice-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('the service storage', () => {
  it('is --data, or --database, or TOKENCTL_DATABASE_URL; a flag wins over the environment, two flags are refused', async () => {
    expect(await chooseStorage({ data: '/srv/t' }, { TOKENCTL_DATABASE_URL: 'postgres://db/t' })).toEqual({ kind: 'sqlite', dataDir: '/srv/t' });
    expect(await chooseStorage({}, { TOKENCTL_DATABASE_URL: 'postgres://u:secret@db1:5432,db2/t?target_session_attrs=read-write' })).toMatchObject({
      kind: 'postgres',
      location: 'postgres://db1:5432,db2/t',
    });
    await expect(chooseStorage({ data: 'x', database: 'postgres://db/t' }, {})).rejects.toMatchObject({ kind: 'usage' });
    await expect(chooseStorage({}, {})).rejects.toThrow(/--data <dir> .* or TOKENCTL_DATABASE_URL/);
    await expect(chooseStorage({}, { TOKENCTL_DATABASE_URL: 'mysql://db/t' })).rejects.toThrow(/must be a PostgreSQL URL/);
  });

  it('never shows a password or query of the URL in messages', async () => {
    expect(describeDatabaseUrl('postgresql://tokenctl:hunter2@db.internal:6432/tok?sslpassword=x')).toBe('postgres://db.internal:6432/tok');
    expect(describeDatabaseUrl('postgres://a%40b:p@w@h/d')).toBe('postgres://h/d');
    expect(describeDatabaseUrl('postgres://u:pa#ss?wo/rd@h:5/d?x=1')).toBe('postgres://h:5/d');
    for (const url of ['mysql://admin:hunter2@db/tokens', 'jdbc:postgresql://u:hunter2@h/db', 'postgres:/u:hunter2@h/db', 'postgres://u:hun#ter2@h:x/d']) {
      const error = await chooseStorage({}, { TOKENCTL_DATABASE_URL: url }).then(
        () => null,
        (e: Error) => e,
      );
      expect(error, url).toMatchObject({ kind: 'usage' });
      expect(error!.message, url).not.toContain('hunter2');
      expect(error!.message, url).not.toContain('hun#ter2');
    }
  });

  it('needs TOKENCTL_SERVER_KEY on PostgreSQL (one key for every replica)', () => {
    expect(() => postgresServerKey({})).toThrow(/TOKENCTL_SERVER_KEY is not set.*openssl rand -base64 32/);
    expect(() => postgresServerKey({ TOKENCTL_SERVER_KEY: 'short' })).toThrow(/base64 of exactly 32 bytes/);
    expect(postgresServerKey({ TOKENCTL_SERVER_KEY: Buffer.alloc(32, 7).toString('base64') })).toHaveLength(32);
  });

  it('refuses, as the binary runs, a password in --database (exit 2, the password nowhere in the output)', async () => {
    const r = await runBin(['serve', '--database', 'postgres://tokenctl:hunter2@127.0.0.1:1/t'], { env: { TOKENCTL_HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --database has a password in it, .* set TOKENCTL_DATABASE_URL instead/);
    expect(r.stdout + r.stderr).not.toContain('hunter2');
    const noKey = await runBin(['server', 'init', '--account', 'acme'], { env: { TOKENCTL_HOME: home, TOKENCTL_DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/t' } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/TOKENCTL_SERVER_KEY is not set/);
    expect(noKey.stdout + noKey.stderr).not.toContain('hunter2');
    const down = await runBin(['server', 'migrate'], {
      env: { TOKENCTL_HOME: home, TOKENCTL_DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/t', TOKENCTL_SERVER_KEY: Buffer.alloc(32, 1).toString('base64') },
    });
    expect(down.code).toBe(8); // backend unavailable (CONTRACT.md)
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(/the database cannot be reached/);
    expect(down.stdout + down.stderr).not.toContain('hunter2');
  });
});
