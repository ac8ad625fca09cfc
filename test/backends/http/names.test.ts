import { afterEach, expect, it } from 'vitest';
import { HttpBackend } from '../../../src/backends/http/http-backend.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

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

it('says when the URL is not a tokenctl service, and when nothing listens there', async () => {
  const http = await import('node:http');
  const other = http.createServer((_q, r) => {
    r.statusCode = 404;
    r.setHeader('content-type', 'text/html');
    r.end('<html>Not Found</html>');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const { port } = other.address() as { port: number };
  try {
    const backend = new HttpBackend({ baseUrl: `http://127.0.0.1:${port}`, credential: async () => 'tctl_key_x', loginHint: 'tokenctl login' });
    await expect(backend.list()).rejects.toMatchObject({ kind: 'data', message: expect.stringMatching(/answered HTTP 404 without a tokenctl error/) });
  } finally {
    await new Promise((r) => other.close(r));
  }
  const gone = new HttpBackend({ baseUrl: `http://127.0.0.1:${port}`, credential: async () => 'tctl_key_x', loginHint: 'tokenctl login' });
  await expect(gone.list()).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(`cannot reach the token service at http://127.0.0.1:${port} \\(ECONNREFUSED\\)`) });
  const huge = http.createServer((_q, r) => {
    r.setHeader('content-type', 'application/json');
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < 64 && r.write(chunk)) sent++;
      if (sent < 64) r.once('drain', pump);
      else r.end();
    };
    r.on('error', () => undefined);
    pump();
  });
  await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve));
  try {
    const { port: p3 } = huge.address() as { port: number };
    const flooded = new HttpBackend({ baseUrl: `http://127.0.0.1:${p3}`, credential: async () => 'tctl_key_x', loginHint: 'tokenctl login' });
    await expect(flooded.list()).rejects.toMatchObject({ kind: 'data', message: expect.stringMatching(/sent more than 16 MiB/) });
  } finally {
    huge.closeAllConnections();
    await new Promise((r) => huge.close(r));
  }
  const slow = http.createServer(() => undefined); // accepts, never answers
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  try {
    const { port: p2 } = slow.address() as { port: number };
    const waiting = new HttpBackend({ baseUrl: `http://127.0.0.1:${p2}`, credential: async () => 'tctl_key_x', loginHint: 'tokenctl login', timeoutMs: 300 });
    await expect(waiting.list()).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/did not answer within 300 ms/) });
  } finally {
    slow.closeAllConnections();
    await new Promise((r) => slow.close(r));
  }
});
