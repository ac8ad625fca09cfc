import { afterEach } from 'vitest';
import { HttpBackend } from '../../src/backends/http/http-backend.js';
import { describeBackendContract } from './backend-contract.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

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
