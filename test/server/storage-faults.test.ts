import path from 'node:path';
import type { SqliteConnection } from '../../src/storage/sql/sqlite/driver.js';
import { openRawDatabase } from '../helpers/sqlite.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_FILE } from '../../src/server/data-dir.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';

// The service over SQLite when the database is not at its disposal: every other request keeps being served, the
// write answers 503 with Retry-After after a bounded wait, and nothing is half-written.
const MIN = 60_000;
let server: TestServer;
let admin: string;
let service: string;

beforeAll(async () => {
  server = await startTestServer({ busyWaitMs: 400 });
  admin = (await server.initAccount()).credential;
  service = await server.addPrincipal('acme', 'service', 'gateway');
});
afterAll(() => server?.close());

describe('the service when its database is locked or full', () => {
  it('answers a write 503 with Retry-After while health, reads and introspection go on', async () => {
    const known = await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'known' } });
    expect(known.status).toBe(201);
    server.clock.advance(30 * MIN);
    const introspect = () => call(server, 'POST', '/v1/introspect', { credential: service, form: { token: known.body.value } });
    expect((await introspect()).body.active).toBe(true);

    // Another process holds SQLite's write lock (an sqlite3 shell, a backup tool, a second service).
    const other = await openRawDatabase(path.join(server.dataDir, 'data', DB_FILE));
    other.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      let writeAnsweredAt = 0;
      const write = call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'blocked' } }).then((r) => {
        writeAnsweredAt = Date.now();
        return r;
      });
      // While the write waits (at least 350 ms), the service answers everything else: before the write, and soon.
      const t = Date.now();
      const [health, list, answer] = await Promise.all([call(server, 'GET', '/healthz'), call(server, 'GET', '/v1/tokens', { credential: admin }), introspect()]);
      expect(writeAnsweredAt).toBe(0);
      expect(Date.now() - t).toBeLessThan(1_000);
      expect(health.status).toBe(200);
      expect(list.status).toBe(200);
      expect(answer.body).toMatchObject({ active: true, status: 'active' });
      const refused = await write;
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body).toEqual({ error: { kind: 'unavailable', message: expect.stringMatching(/locked by another process; nothing was changed/) } });
      expect(refused.text).not.toContain(server.dataDir);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const names = (await call(server, 'GET', '/v1/tokens', { credential: admin })).body.tokens.map((t: { name: string }) => t.name);
    expect(names).toEqual(['default', 'known']);
    expect((await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 'onelink', name: 'after' } })).status).toBe(201);
    expect(server.logs.some((l) => /storage unavailable/.test(l))).toBe(true);
  });

  it('answers 503 when the disk is full, and the trail stays whole', async () => {
    // A real SQLITE_FULL: the writing connection may not grow the file any further.
    const db = (server.storage as unknown as { db: SqliteConnection }).db;
    const pages = db.prepare<[], { page_count: number }>('PRAGMA page_count').get()!.page_count;
    db.exec(`PRAGMA max_page_count = ${pages}`);
    try {
      const id = (await call(server, 'GET', '/v1/tokens/after', { credential: admin })).body.token.id;
      let refused;
      for (let i = 0; i < 50; i++) {
        refused = await call(server, 'PATCH', `/v1/tokens/${id}`, { credential: admin, json: { name: `${'y'.repeat(60)}`.slice(0, 60 - String(i).length) + i } });
        if (refused.status !== 200) break;
      }
      expect(refused!.status).toBe(503);
      expect(refused!.body.error.message).toMatch(/full; nothing was changed/);
    } finally {
      db.exec('PRAGMA max_page_count = 1073741823');
    }
    expect((await call(server, 'GET', '/v1/audit/verify', { credential: admin })).body).toMatchObject({ ok: true });
  });
});

describe('what the service records', () => {
  it('records a created token as delivered, so the security review does not call it never-retrieved; no-store, no-referrer', async () => {
    const created = await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 'api', name: 'printed' } });
    // An answer that carries a value is neither cached nor referred onwards.
    expect([created.headers.get('cache-control'), created.headers.get('referrer-policy')]).toEqual(['no-store', 'no-referrer']);
    const events = (await call(server, 'GET', '/v1/audit/events', { credential: admin })).body.events;
    const create = events.find((e: { action: string; token: { id: string } | null }) => e.action === 'token.create' && e.token?.id === created.body.token.id);
    expect(create.detail).toEqual({ delivered: 'yes' });
  });

  it('refuses to abandon a completed rotation (409), and records nothing', async () => {
    const start = await call(server, 'POST', '/v1/rotations', { credential: admin, json: { ref: 'known' } });
    expect(start.status).toBe(201);
    const id = start.body.rotation.id;
    await call(server, 'POST', `/v1/rotations/${id}/deliver`, { credential: admin, json: { delivery: 'stdout' } });
    server.clock.advance(30 * MIN);
    expect((await call(server, 'POST', `/v1/rotations/${id}/complete`, { credential: admin, json: { confirmation: 'Delete token' } })).status).toBe(200);
    const before = (await call(server, 'GET', '/v1/audit/events', { credential: admin })).body.events.length;
    const abandon = await call(server, 'POST', `/v1/rotations/${id}/abandon`, { credential: admin, json: { reason: 'late' } });
    expect(abandon.status).toBe(409);
    expect(abandon.body.error).toMatchObject({ kind: 'conflict', message: expect.stringMatching(/already completed/) });
    expect((await call(server, 'GET', '/v1/audit/events', { credential: admin })).body.events.length).toBe(before);
  });
});
