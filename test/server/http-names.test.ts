import { afterEach, expect, it } from 'vitest';
import { HttpBackend } from '../../src/backends/http/http-backend.js';
import { startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
afterEach(async () => server?.close());

it('reaches tokens whose names are awkward in a URL path', async () => {
  server = await startTestServer();
  const { credential } = await server.initAccount();
  const backend = new HttpBackend({ baseUrl: server.url, credential: async () => credential, loginHint: 'tokenctl login' });
  for (const name of ['a/b', 'x?y#z', '..', '.', 'with space %2F', '日本語'.repeat(10), 'a+b&c=d', '%', 'tok_…']) {
    const { token } = await backend.create({ type: 's2s', name });
    expect((await backend.find(name)).id, name).toBe(token.id);
    expect((await backend.reveal(name, { allowPending: true })).token.id).toBe(token.id);
    expect((await backend.rename(name, `${name}!`)).name).toBe(`${name}!`);
    expect((await backend.rename(`${name}!`, name)).name).toBe(name);
    expect((await backend.delete(name, 'Delete token')).id).toBe(token.id);
  }
});
