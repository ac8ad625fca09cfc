import { afterAll, afterEach, describe, it } from 'vitest';
import { HttpBackend } from '../../src/backends/http/http-backend.js';
import { describeBackendContract } from './backend-contract.js';
import { startPostgresTestServer, startTestServer, type TestServer } from '../helpers/server.js';
import { postgresAvailable, postgresMissing, postgresRequired, startCluster, type TestCluster } from '../helpers/postgres.js';

// The same contract suite as the file backend, against the real service on 127.0.0.1 port 0 (no HTTP mocks).
let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describeBackendContract('http', async () => {
  const server = await startTestServer();
  servers.push(server);
  let credential: string | undefined;
  const backend = new HttpBackend({
    baseUrl: server.url,
    credential: async () => credential,
    loginHint: `tokenctl login --server ${server.url}`,
  });
  return {
    backend,
    clock: server.clock,
    initAccount: async (opts) => {
      credential = (await server.initAccount({ defaultToken: opts?.defaultToken ?? true })).credential;
    },
  };
});

// And against the service as a replica on a real PostgreSQL (`http -> postgres`), its lookups from memory.
if (postgresAvailable) {
  let cluster: Promise<TestCluster> | undefined;
  afterAll(async () => (await cluster)?.stop());
  describeBackendContract('http -> postgres', async () => {
    const server = await startPostgresTestServer(await (cluster ??= startCluster()));
    servers.push(server as unknown as TestServer);
    let credential: string | undefined;
    const backend = new HttpBackend({ baseUrl: server.url, credential: async () => credential, loginHint: `tokenctl login --server ${server.url}` });
    return {
      backend,
      clock: server.clock,
      initAccount: async (opts) => {
        credential = (await server.initAccount({ defaultToken: opts?.defaultToken ?? true })).credential;
      },
    };
  });
} else {
  describe('http -> postgres', () => {
    it.skipIf(!postgresRequired)('needs a real PostgreSQL (TOKENCTL_REQUIRE_POSTGRES=1 makes a missing one a failure)', () => {
      throw new Error(postgresMissing);
    });
  });
}
