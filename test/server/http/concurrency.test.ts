import { afterEach, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';

let server: TestServer;
afterEach(async () => server?.close());

it('holds the 2-per-type limit under 50 concurrent creates', async () => {
  server = await startTestServer();
  const { credential } = await server.initAccount({ defaultToken: true });
  // api already has the default token: one slot left. s2s and onelink: two each.
  const requests = Array.from({ length: 50 }, (_, i) => {
    const type = ['api', 's2s', 'onelink'][i % 3]!;
    return call(server, 'POST', '/v1/tokens', { credential, json: { type, name: `${type}-${i}` } });
  });
  const results = await Promise.all(requests);
  const created = results.filter((r) => r.status === 201);
  const refused = results.filter((r) => r.status !== 201);
  expect(created).toHaveLength(5);
  expect(refused.every((r) => r.status === 409 && r.body.error.kind === 'conflict' && /already has 2 live tokens/.test(r.body.error.message))).toBe(true);
  const tokens = (await call(server, 'GET', '/v1/tokens', { credential })).body.tokens as { type: string }[];
  for (const type of ['api', 's2s', 'onelink']) expect(tokens.filter((t) => t.type === type)).toHaveLength(2);
});

it('keeps names unique under 50 concurrent creates and renames with the same name', async () => {
  server = await startTestServer();
  const { credential } = await server.initAccount({ defaultToken: false });
  const creates = await Promise.all(
    Array.from({ length: 50 }, (_, i) => call(server, 'POST', '/v1/tokens', { credential, json: { type: ['api', 's2s', 'onelink'][i % 3], name: i % 2 ? 'Same' : 'same' } })),
  );
  expect(creates.filter((r) => r.status === 201)).toHaveLength(1);
  await call(server, 'POST', '/v1/tokens', { credential, json: { type: 's2s', name: 'other' } });
  const renames = await Promise.all(
    Array.from({ length: 50 }, (_, i) => call(server, 'PATCH', `/v1/tokens/${i % 2 ? 'same' : 'other'}`, { credential, json: { name: 'target' } })),
  );
  expect(renames.filter((r) => r.status === 200)).toHaveLength(1);
  const names = ((await call(server, 'GET', '/v1/tokens', { credential })).body.tokens as { name: string }[]).map((t) => t.name.toLowerCase());
  expect(new Set(names).size).toBe(names.length);
});
