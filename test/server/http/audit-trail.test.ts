import { openRawDatabase } from '../../helpers/sqlite.js';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../helpers/server.js';

let server: TestServer;
afterEach(async () => server?.close());

function dbFile(s: TestServer): string {
  const dir = path.join(s.dataDir, 'data');
  return path.join(dir, readdirSync(dir).find((f) => f.endsWith('.db'))!);
}

/** Tampering with the service's trail in its database is detected, as it is in the local trail file. */
describe("the service's audit trail", () => {
  it.each([
    ['an edited event', "UPDATE audit_events SET line = replace(line, '\"token.create\"', '\"token.rename\"') WHERE seq = 2", 2, /edited/],
    ['a deleted event', 'DELETE FROM audit_events WHERE seq = 1', 1, /deleted, inserted or moved/],
    ['the last event cut off', 'DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)', 2, /cut off the end/],
  ])('detects %s', async (_what, sql, line, reason) => {
    server = await startTestServer();
    const { accountId } = await server.initAccount();
    expect(await server.storage.verifyAudit(accountId)).toMatchObject({ ok: true, events: 2 });
    const db = await openRawDatabase(dbFile(server));
    db.exec(sql);
    db.close();
    const result = await server.storage.verifyAudit(accountId);
    expect(result).toMatchObject({ ok: false, line });
    expect((result as { reason: string }).reason).toMatch(reason);
  });
});
