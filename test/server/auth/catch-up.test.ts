import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDataDir } from '../../../src/server/data-dir.js';
import { addPrincipal } from '../../../src/tokens/principals.js';
import { call, startTestServer } from '../../helpers/server.js';
import { sqliteDriverEnv } from '../../helpers/sqlite.js';

/**
 * On SQLite the service looks every second at whether another process wrote (`tokenctl server add-principal` while it
 * runs). A credential it does not know makes it look at once: one made a moment ago works on the very next request.
 */
describe("a credential made by another process while the service runs (SQLite)", () => {
  it('works at once, on the API and on introspection; an unknown one is still refused', async () => {
    const server = await startTestServer();
    const other = await openDataDir(path.join(server.dataDir, 'data'), { TOKENCTL_SERVER_KEY: server.serverKey, ...sqliteDriverEnv }, { create: false });
    try {
      const { credential: admin } = await server.initAccount({ name: 'acme' });
      expect((await call(server, 'GET', '/v1/tokens', { credential: admin })).status).toBe(200);
      for (let i = 0; i < 3; i++) {
        const fresh = (await addPrincipal(other, 'acme', 'admin', `second-${i}`, server.clock)).credential;
        const introspector = (await addPrincipal(other, 'acme', 'service', `gateway-${i}`, server.clock)).credential;
        // No wait: the very next request.
        expect((await call(server, 'GET', '/v1/tokens', { credential: fresh })).status).toBe(200);
        const r = await fetch(`${server.url}/v1/introspect`, {
          method: 'POST',
          headers: { authorization: `Bearer ${introspector}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'token=tctl_s2s_unknown',
        });
        expect(r.status).toBe(200);
        expect(await r.json()).toEqual({ active: false });
      }
      expect((await call(server, 'GET', '/v1/tokens', { credential: 'tctl_key_' + 'x'.repeat(40) })).status).toBe(401);
    } finally {
      await other.close();
      await server.close();
    }
  });
});
