// Usage as the service records it at its one introspection door and at a value's retrieval, and answers it on the API:
// the resource server is the introspecting principal, the address the one the door computes (through a trusted proxy,
// the client's), calls counted in memory and written in batches, never a write per request.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';

const MIN = 60_000;
let server: TestServer;
afterEach(async () => server?.close());

/** An introspection request with an X-Forwarded-For (as nginx sends it), on a connection of its own. */
function introspectVia(url: string, credential: string, token: string, forwardedFor?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const body = `token=${encodeURIComponent(token)}`;
    const req = http.request(`${url}/v1/introspect`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${credential}`,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('usage recorded at the introspection door', () => {
  it('by resource server and client address (behind a trusted proxy, the client), per hour and per day, in batches', async () => {
    server = await startTestServer({ trustProxy: ['127.0.0.1'] });
    const { credential: admin } = await server.initAccount();
    const gw = await server.addPrincipal('acme', 'service', 'edge-gw');
    const billing = await server.addPrincipal('acme', 'service', 'billing');
    const created = await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'events' } });
    const value = created.body.value as string;
    const id = created.body.token.id as string;
    server.clock.advance(31 * MIN);
    const writes: number[] = [];
    const original = server.storage.recordUsage.bind(server.storage);
    server.storage.recordUsage = (batch, builder) => {
      writes.push(batch.length);
      return original(batch, builder);
    };
    for (let i = 0; i < 40; i++) expect((await introspectVia(server.url, gw, value, '203.0.113.7')).body.active).toBe(true);
    for (let i = 0; i < 2; i++) await introspectVia(server.url, billing, value, '198.51.100.20');
    // A spoofed chain: only the address next to the trusted proxy counts.
    await introspectVia(server.url, gw, value, '192.0.2.99, 203.0.113.7');
    // An unknown value, a pending one: nothing recorded.
    await introspectVia(server.url, gw, 'tctl_s2s_0000000000000000000000000000aaaaaa');
    expect(writes).toEqual([]); // no write per request
    const live = await call(server, 'GET', `/v1/tokens/${id}/usage`, { credential: admin });
    expect(live.status).toBe(200);
    // Not written yet, shown all the same.
    expect(live.body.usage).toMatchObject({ tokenId: id, tracked: true, lastUsedAt: '2026-03-01T10:31:00.000Z', calls24h: 43 });
    await server.app.flushUsage();
    expect(writes).toEqual([1]); // one batch, one token in it
    server.clock.advance(MIN);
    await call(server, 'POST', `/v1/tokens/${id}/reveal`, { credential: admin, json: {} });
    await server.app.flushUsage();
    const r = await call(server, 'GET', '/v1/tokens/events/usage', { credential: admin });
    const callers = (r.body.usage.callers as { kind: string; principalName: string; address: string; calls: number }[]).map((c) => `${c.kind} ${c.principalName} ${c.address} ${c.calls}`).sort();
    expect(callers).toEqual(['introspection billing 198.51.100.20 2', 'introspection edge-gw 203.0.113.7 41', 'retrieval admin 127.0.0.1 1']);
    expect(r.body.usage.calls24h).toBe(43);
    expect(r.body.usage.callsPerDay.at(-1)).toEqual({ day: '2026-03-01', calls: 43 });
    expect(r.body.token.lastUsedAt).toBe('2026-03-01T10:31:00.000Z'); // a retrieval is not a use
    const overview = await call(server, 'GET', '/v1/usage', { credential: admin });
    expect(overview.body.asOf).toBe('2026-03-01T10:32:00.000Z');
    expect(overview.body.tokens.map((u: { tokenId: string }) => u.tokenId)).toEqual([id]); // the default token was never used
    expect(JSON.stringify(overview.body)).not.toContain(value);
  });

  it('records a deleted token presented during its drain as draining calls, and nothing once it is revoked', async () => {
    server = await startTestServer();
    const { credential: admin } = await server.initAccount();
    const gw = await server.addPrincipal('acme', 'service', 'edge-gw');
    const value = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential: admin, json: {} })).body.value as string;
    await call(server, 'POST', '/v1/introspect', { credential: gw, form: { token: value } });
    await call(server, 'DELETE', '/v1/tokens/default', { credential: admin, json: { confirmation: 'Delete token' } });
    server.clock.advance(MIN);
    for (let i = 0; i < 2; i++) expect((await call(server, 'POST', '/v1/introspect', { credential: gw, form: { token: value } })).body.status).toBe('draining');
    server.clock.advance(30 * MIN);
    expect((await call(server, 'POST', '/v1/introspect', { credential: gw, form: { token: value } })).body).toEqual({ active: false });
    await server.app.flushUsage();
    const [token] = (await call(server, 'GET', '/v1/tokens', { credential: admin })).body.tokens as { status: string; lastUsedAt: string }[];
    expect(token).toMatchObject({ status: 'revoked', lastUsedAt: '2026-03-01T10:01:00.000Z' }); // the revoked presentation is not a use
    const all = (await call(server, 'GET', '/v1/usage', { credential: admin })).body.tokens[0];
    expect(all.callers).toEqual([
      expect.objectContaining({ kind: 'introspection', principalName: 'edge-gw', calls: 3, drainingCalls: 2, drainingLastSeenAt: '2026-03-01T10:01:00.000Z' }),
      expect.objectContaining({ kind: 'retrieval', principalName: 'admin', calls: 1 }),
    ]);
  });
});
