// What HttpBackend.features() makes of whoami's `features`: a service older than features sends none (every
// feature, as before); a newer one may name features this tokenctl does not know (ignored).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpBackend } from '../../../src/backends/http/http-backend.js';

let closeServer: (() => Promise<void>) | undefined;
afterEach(async () => {
  await closeServer?.();
  closeServer = undefined;
});

async function serviceAnswering(account: Record<string, unknown>): Promise<HttpBackend> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/v1/whoami') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ principal: { id: 'prn_1', name: 'admin', role: 'admin' }, account: { id: 'acc_1', name: 'acme', createdAt: '2026-03-01T10:00:00.000Z', ...account } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closeServer = () => new Promise((resolve) => server.close(() => resolve()));
  const { port } = server.address() as AddressInfo;
  return new HttpBackend({ baseUrl: `http://127.0.0.1:${port}`, credential: async () => 'key', loginHint: 'tokenctl login' });
}

describe('HttpBackend.features', () => {
  it.each([
    [{}, undefined],
    [{ features: [] }, []],
    [{ features: ['onelink'] }, ['onelink']],
    [{ features: ['gold', 'onelink'] }, ['onelink']],
  ])('whoami account %j: %j', async (account, expected) => {
    const backend = await serviceAnswering(account);
    expect(await backend.features()).toEqual(expected);
  });
});
