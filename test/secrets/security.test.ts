import { createHmac } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { testSqliteDriver } from '../helpers/sqlite.js';
import { SignJWT, base64url } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSealer } from '../../src/secrets/seal.js';
import { mintOpaqueToken, OPAQUE_PREFIXES } from '../../src/secrets/opaque.js';
import { issuerFor } from '../../src/secrets/jwt.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';

const sqlite = await testSqliteDriver();

const MIN = 60_000;
const ROLES = ['admin', 'user', 'partner', 'service'] as const;

let server: TestServer;
let creds: Record<(typeof ROLES)[number], string>;
let accountId: string;

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  server = await startTestServer(options);
  const init = await server.initAccount({ name: 'acme' });
  accountId = init.accountId;
  creds = {
    admin: init.credential,
    user: await server.addPrincipal('acme', 'user', 'uma'),
    partner: await server.addPrincipal('acme', 'partner', 'pat'),
    service: await server.addPrincipal('acme', 'service', 'gateway'),
  };
}

afterEach(async () => {
  await server?.close();
});

/** The account's signing key, read from the database with the server key (what an attacker does NOT have). */
function signingKey(acc = accountId): { kid: string; pem: string } {
  const db = sqlite.open(path.join(server.dataDir, 'data', 'tokenctl.db'));
  try {
    const row = db.prepare('SELECT kid, private_key FROM signing_keys WHERE account_id = ?').get(acc) as { kid: string; private_key: string };
    return { kid: row.kid, pem: createSealer(Buffer.from(server.serverKey, 'base64')).open(row.private_key, `${acc}:signing-key`) };
  } finally {
    db.close();
  }
}

const introspect = (token: string, credential = creds.service) => call(server, 'POST', '/v1/introspect', { credential, form: { token } });

describe('every route x every role', () => {
  beforeEach(() => setup());

  const tokenRoutes: { method: string; url: string; json?: unknown }[] = [
    { method: 'GET', url: '/v1/tokens' },
    { method: 'POST', url: '/v1/tokens', json: { type: 's2s', name: 'x' } },
    { method: 'GET', url: '/v1/tokens/default' },
    { method: 'POST', url: '/v1/tokens/default/reveal', json: {} },
    { method: 'PATCH', url: '/v1/tokens/default', json: { name: 'renamed' } },
    { method: 'DELETE', url: '/v1/tokens/default', json: { confirmation: 'Delete token' } },
    { method: 'POST', url: '/v1/identify', json: { value: 'tctl_s2s_x' } },
    { method: 'GET', url: '/v1/rotations' },
    { method: 'POST', url: '/v1/rotations', json: { ref: 'default' } },
    { method: 'POST', url: '/v1/rotations/rot_x/deliver', json: { delivery: 'stdout' } },
    { method: 'POST', url: '/v1/rotations/rot_x/complete', json: { confirmation: 'Delete token' } },
    { method: 'POST', url: '/v1/rotations/rot_x/abandon', json: { reason: 'x' } },
    { method: 'GET', url: '/v1/audit/events' },
    { method: 'GET', url: '/v1/audit/verify' },
    { method: 'GET', url: '/v1/account/keys' },
  ];

  it('token routes: 403 with "only admins may manage tokens" for user, partner and service; never 401/403 for admins', async () => {
    for (const route of tokenRoutes) {
      for (const role of ['user', 'partner', 'service'] as const) {
        const r = await call(server, route.method, route.url, { credential: creds[role], json: route.json });
        expect(r.status, `${role} ${route.method} ${route.url}`).toBe(403);
        expect(r.body.error).toEqual({ kind: 'permission', message: `only admins may manage tokens; this credential's role is '${role}'` });
      }
      const none = await call(server, route.method, route.url, { json: route.json });
      expect(none.status, `anonymous ${route.method} ${route.url}`).toBe(401);
    }
    // Admins get through (each answer is the route's own: 2xx, or a domain error such as 404 for rot_x).
    for (const route of tokenRoutes) {
      const r = await call(server, route.method, route.url, { credential: creds.admin, json: route.json });
      expect([401, 403], `admin ${route.method} ${route.url}`).not.toContain(r.status);
    }
  });

  it('introspection: admins and services only', async () => {
    for (const role of ROLES) {
      const r = await introspect('tctl_s2s_nothing', creds[role]);
      if (role === 'admin' || role === 'service') expect(r.body).toEqual({ active: false });
      else {
        // RFC 7662 section 2.3: 401 with the bearer challenge (RFC 6750), not 403.
        expect(r.status).toBe(401);
        expect(r.body).toEqual({ error: 'insufficient_scope', error_description: expect.stringMatching(/only service principals and admins may introspect/) });
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="tokenctl", error="insufficient_scope"/);
      }
    }
    expect((await call(server, 'POST', '/v1/introspect', { form: { token: 'x' } })).status).toBe(401);
  });

  it('whoami answers every role; the JWKS and the OpenAPI document are public', async () => {
    for (const role of ROLES) {
      const r = await call(server, 'GET', '/v1/whoami', { credential: creds[role] });
      expect(r.status).toBe(200);
      expect(r.body.principal.role).toBe(role);
      expect(r.body.account.name).toBe('acme');
    }
    const jwks = await call(server, 'GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwks.text).not.toMatch(/"d"/); // never the private part
    const spec = await call(server, 'GET', '/openapi.yaml');
    expect(spec.status).toBe(200);
    expect(spec.text).toMatch(/^openapi: 3\.1/m);
  });
});

describe('authentication failures', () => {
  beforeEach(() => setup());

  it('gives one identical 401 body whatever was wrong with the credential', async () => {
    const s2s = (await call(server, 'POST', '/v1/tokens', { credential: creds.admin, json: { type: 's2s', name: 'ev' } })).body.value as string;
    const attempts: (string | undefined)[] = [
      undefined, // missing
      'Basic YWRtaW46YWRtaW4=', // another scheme
      'Bearer', // no credential
      'Bearer ', // empty
      `Bearer ${creds.admin} extra`, // malformed
      `Bearer ${creds.admin.slice(0, -1)}${creds.admin.endsWith('X') ? 'Y' : 'X'}`, // wrong (one character off; never the same one)
      'Bearer tctl_key_' + 'A'.repeat(40), // well-formed, unknown
      `Bearer ${s2s}`, // a token value of another kind, not a credential
      `Bearer ${'x'.repeat(5000)}`, // oversized
    ];
    const bodies = new Set<string>();
    for (const authorization of attempts) {
      const r = await call(server, 'GET', '/v1/tokens', authorization === undefined ? {} : { authorization });
      expect(r.status, String(authorization).slice(0, 30)).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="tokenctl"');
      bodies.add(r.text);
    }
    expect([...bodies]).toEqual(['{"error":{"kind":"permission","message":"authentication failed: missing, malformed or unknown credential"}}']);
  });

  it('refuses an address with 429 and Retry-After after repeated failures, even with the right credential', async () => {
    await server.close();
    await setup({ authLimit: { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 } });
    for (let i = 0; i < 3; i++) expect((await call(server, 'GET', '/v1/tokens', { credential: `tctl_key_wrong${i}` })).status).toBe(401);
    const blocked = await call(server, 'GET', '/v1/tokens', { credential: creds.admin });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(30);
    expect(blocked.body.error.message).toMatch(/too many failed authentication attempts/);
    // Public routes are not affected.
    expect((await call(server, 'GET', '/healthz')).status).toBe(200);
  });

  it('limits per client behind a trusted proxy (X-Forwarded-For), and ignores that header otherwise', async () => {
    await server.close();
    await setup({ authLimit: { maxFailures: 2, windowMs: 60_000, blockMs: 30_000 }, trustProxy: ['127.0.0.1'] });
    const from = (client: string, credential: string) =>
      fetch(`${server.url}/v1/tokens`, { headers: { authorization: `Bearer ${credential}`, 'x-forwarded-for': client } }).then((r) => r.status);
    expect(await from('203.0.113.7', 'bad1')).toBe(401);
    expect(await from('203.0.113.7', 'bad2')).toBe(401);
    expect(await from('203.0.113.7', creds.admin)).toBe(429);
    expect(await from('198.51.100.9', creds.admin)).toBe(200);
    await server.close();
    await setup({ authLimit: { maxFailures: 2, windowMs: 60_000, blockMs: 30_000 } });
    expect(await from('203.0.113.7', 'bad1')).toBe(401);
    expect(await from('198.51.100.9', 'bad2')).toBe(401);
    expect(await from('192.0.2.1', creds.admin)).toBe(429); // a spoofed header does not escape the limit
  });

  it('counts guesses, not repeats or requests without a credential: a misconfigured client does not lock out its neighbours', async () => {
    await server.close();
    await setup({ authLimit: { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 } });
    // One client behind the address sends no credential, another the same stale one, again and again.
    for (let i = 0; i < 10; i++) {
      expect((await call(server, 'GET', '/v1/tokens')).status).toBe(401);
      expect((await call(server, 'GET', '/v1/tokens', { credential: 'tctl_key_stale' })).status).toBe(401);
      expect((await call(server, 'GET', '/v1/tokens', { authorization: 'Token not-a-scheme-we-read' })).status).toBe(401);
    }
    // Their neighbour behind the same address is not locked out.
    expect((await call(server, 'GET', '/v1/tokens', { credential: creds.admin })).status).toBe(200);
    // Different wrong credentials are guesses: the stale one counted once, two more reach the limit.
    expect((await call(server, 'GET', '/v1/tokens', { credential: 'tctl_key_guess1' })).status).toBe(401);
    expect((await call(server, 'GET', '/v1/tokens', { credential: 'tctl_key_guess2' })).status).toBe(401);
    expect((await call(server, 'GET', '/v1/tokens', { credential: creds.admin })).status).toBe(429);
  });

  it('successful requests do not count towards the limit', async () => {
    await server.close();
    await setup({ authLimit: { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 } });
    for (let i = 0; i < 10; i++) expect((await call(server, 'GET', '/v1/tokens', { credential: creds.admin })).status).toBe(200);
    expect((await call(server, 'GET', '/v1/tokens', { credential: 'nope' })).status).toBe(401);
    expect((await call(server, 'GET', '/v1/tokens', { credential: creds.admin })).status).toBe(200);
  });
});

describe('introspection (RFC 7662)', () => {
  beforeEach(() => setup());

  const create = async (type: string, name: string) =>
    (await call(server, 'POST', '/v1/tokens', { credential: creds.admin, json: { type, name } })).body as { token: { id: string }; value: string };

  it('pending is inactive, then active; deleted drains for 30 minutes, then is exactly {"active":false} like an unknown token', async () => {
    const { token, value } = await create('s2s', 'events');
    const inactive = await introspect(value);
    expect(inactive.text).toBe('{"active":false}');
    server.clock.advance(30 * MIN);
    const active = await introspect(value);
    expect(active.body).toMatchObject({ active: true, type: 's2s', status: 'active', jti: token.id, sub: accountId, iss: issuerFor(accountId) });
    expect(active.body.exp).toBeUndefined();
    await call(server, 'DELETE', '/v1/tokens/events', { credential: creds.admin, json: { confirmation: 'Delete token' } });
    const draining = await introspect(value);
    expect(draining.body).toMatchObject({ active: true, status: 'draining', exp: Math.floor(server.clock.now().getTime() / 1000) + 30 * 60 });
    server.clock.advance(30 * MIN);
    expect((await introspect(value)).text).toBe('{"active":false}');
    expect((await introspect(mintOpaqueToken('s2s'))).text).toBe('{"active":false}');
    // One token per request: a repeated parameter is refused, not guessed at.
    const twice = await fetch(`${server.url}/v1/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${creds.service}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(value)}&token=x`,
    });
    expect(twice.status).toBe(400);
    // JSON bodies work too.
    const json = await call(server, 'POST', '/v1/introspect', { credential: creds.service, json: { token: value } });
    expect(json.text).toBe('{"active":false}');
  });

  it('sees a deletion made by another process on the same data directory within a second', async () => {
    const { value } = await create('s2s', 'shared');
    server.clock.advance(30 * MIN);
    expect((await introspect(value)).body.status).toBe('active');
    const { openDataDir } = await import('../../src/server/data-dir.js');
    const other = await openDataDir(path.join(server.dataDir, 'data'), { TOKENCTL_SERVER_KEY: server.serverKey }, { create: false });
    try {
      const { TokenService } = await import('../../src/tokens/token-service.js');
      await new TokenService({ storage: other, accountId, actor: 'admin:other-process', clock: server.clock }).delete('shared', 'Delete token');
    } finally {
      other.close();
    }
    // Seen by its look at the database every second: waited for, not slept for.
    await vi.waitFor(async () => expect((await introspect(value)).body).toMatchObject({ active: true, status: 'draining' }), { timeout: 3_000, interval: 50 });
    server.clock.advance(30 * MIN);
    expect((await introspect(value)).text).toBe('{"active":false}');
  });

  it('writes unflushed last-used times when the server closes', async () => {
    const { value } = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential: creds.admin, json: {} })).body as { value: string };
    await introspect(value);
    await server.app.close();
    const db = sqlite.open(path.join(server.dataDir, 'data', 'tokenctl.db'));
    try {
      const row = db.prepare("SELECT last_used_at FROM tokens WHERE name = 'default'").get() as { last_used_at: string | null };
      expect(row.last_used_at).toBe(server.clock.now().toISOString());
    } finally {
      db.close();
    }
  });

  it('accepts the default API token, and the JWKS verifies it offline', async () => {
    const { value } = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential: creds.admin, json: {} })).body;
    expect((await introspect(value)).body).toMatchObject({ active: true, type: 'api' });
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const jwks = createLocalJWKSet((await call(server, 'GET', '/.well-known/jwks.json')).body);
    const { payload } = await jwtVerify(value, jwks, { issuer: issuerFor(accountId), typ: 'tokenctl-api+jwt', algorithms: ['EdDSA'], currentDate: server.clock.now() });
    expect(payload.sub).toBe(accountId);
  });

  it('rejects JWT attacks: alg none, HS256 keyed with the public key, wrong typ/iss, tampered payload, unknown kid', async () => {
    const { value } = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential: creds.admin, json: {} })).body as { value: string };
    const [h, p, sig] = value.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
    const x = (await call(server, 'GET', '/.well-known/jwks.json')).body.keys[0].x as string;
    const hs256 = (key: Buffer | string) => {
      const head = enc({ ...header, alg: 'HS256' });
      return `${head}.${p}.${createHmac('sha256', key).update(`${head}.${p}`).digest('base64url')}`;
    };
    const { kid, pem } = signingKey();
    const { createPrivateKey } = await import('node:crypto');
    const resign = (hdr: Record<string, unknown>, claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', ...hdr } as never).sign(createPrivateKey(pem));

    expect((await introspect(value)).body.active).toBe(true); // the genuine token, for contrast
    const attacks: Record<string, string> = {
      'alg none': `${enc({ ...header, alg: 'none' })}.${p}.`,
      'alg none, signature kept': `${enc({ ...header, alg: 'none' })}.${p}.${sig}`,
      'HS256 keyed with the raw public key': hs256(Buffer.from(x, 'base64url')),
      'HS256 keyed with the public JWK x': hs256(x),
      'tampered payload (another jti)': `${h}.${enc({ ...payload, jti: 'tok_other' })}.${sig}`,
      'tampered payload (earlier nbf)': `${h}.${enc({ ...payload, nbf: payload.nbf - 3600 })}.${sig}`,
      'unknown kid': `${enc({ ...header, kid: 'unknown-kid' })}.${p}.${sig}`,
      'truncated signature': `${h}.${p}.${sig.slice(0, -4)}`,
      'wrong typ (validly signed)': await resign({ kid, typ: 'JWT' }, payload),
      'no typ (validly signed)': await resign({ kid }, payload),
      'wrong iss (validly signed)': await resign({ kid, typ: header.typ }, { ...payload, iss: 'urn:evil' }),
      'validly signed, never issued (unknown jti)': await resign({ kid, typ: header.typ }, { ...payload, jti: 'tok_AAAAAAAAAAAAAAAA' }),
      'validly signed copy with another iat (not the stored value)': await resign({ kid, typ: header.typ }, { ...payload, iat: payload.iat + 1 }),
    };
    for (const [name, attack] of Object.entries(attacks)) {
      const r = await introspect(attack);
      expect(r.text, name).toBe('{"active":false}');
    }
  });

  it("rejects an opaque token of the wrong type, a bad checksum, and another account's token", async () => {
    const { value } = await create('s2s', 'ev');
    server.clock.advance(30 * MIN);
    expect((await introspect(value)).body.active).toBe(true);
    const body = value.slice(OPAQUE_PREFIXES.s2s.length);
    const relabelled = OPAQUE_PREFIXES.onelink + body; // same random part under the onelink prefix
    expect((await introspect(relabelled)).text).toBe('{"active":false}');
    expect((await introspect(value.slice(0, -1) + (value.endsWith('a') ? 'b' : 'a'))).text).toBe('{"active":false}');
    // A resource server of another account cannot see this account's tokens.
    await server.initAccount({ name: 'other', defaultToken: false });
    const otherService = await server.addPrincipal('other', 'service', 'their-gateway');
    expect((await introspect(value, otherService)).text).toBe('{"active":false}');
  });

  it('records last use in batches: nothing written per call, visible at once, written on flush', async () => {
    const { token, value } = await create('onelink', 'ol');
    server.clock.advance(30 * MIN);
    await introspect(value);
    const usedAt = server.clock.now().toISOString();
    const db = sqlite.open(path.join(server.dataDir, 'data', 'tokenctl.db'));
    const stored = () => (db.prepare('SELECT last_used_at FROM tokens WHERE id = ?').get(token.id) as { last_used_at: string | null }).last_used_at;
    try {
      expect(stored()).toBeNull();
      const listed = (await call(server, 'GET', `/v1/tokens/${token.id}`, { credential: creds.admin })).body.token;
      expect(listed.lastUsedAt).toBe(usedAt);
      server.app.flushUsage();
      expect(stored()).toBe(usedAt);
    } finally {
      db.close();
    }
  });
});

describe('request limits', () => {
  beforeEach(() =>
    setup({ limits: { bodyLimit: 4096, headersTimeoutMs: 400, requestTimeoutMs: 800, connectionsCheckingIntervalMs: 100 } }),
  );

  it('answers 413 to an oversized body, with the error shape', async () => {
    const r = await call(server, 'POST', '/v1/tokens', { credential: creds.admin, raw: JSON.stringify({ type: 's2s', name: 'x'.repeat(10_000) }) });
    expect(r.status).toBe(413);
    expect(r.body.error).toEqual({ kind: 'usage', message: 'request body is larger than 4096 bytes' });
  });

  it('validates bodies against the schema (unknown fields, wrong types) and never echoes a bad JSON body', async () => {
    const extra = await call(server, 'POST', '/v1/tokens', { credential: creds.admin, json: { type: 's2s', name: 'a', admin: true } });
    expect(extra.status).toBe(400);
    expect(extra.body.error.kind).toBe('usage');
    const wrongType = await call(server, 'POST', '/v1/tokens', { credential: creds.admin, json: { type: 's2s', name: 42 } });
    expect(wrongType.status).toBe(400);
    const secretish = mintOpaqueToken('s2s');
    const bad = await call(server, 'POST', '/v1/identify', { credential: creds.admin, raw: `{"value": "${secretish}"` });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({ kind: 'usage', message: 'request body is not valid JSON' });
    expect(bad.text).not.toContain(secretish);
  });

  function slowClient(send: (socket: net.Socket) => void): Promise<{ closedAfterMs: number; data: string }> {
    return new Promise((resolve, reject) => {
      const { port } = new URL(server.url);
      const started = Date.now();
      let data = '';
      const socket = net.connect(Number(port), '127.0.0.1', () => send(socket));
      socket.setEncoding('utf8').on('data', (d) => (data += d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ closedAfterMs: Date.now() - started, data }));
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the server kept a slow client connected'));
      }, 5_000);
    });
  }

  it('drops a client that never finishes its headers (slowloris)', async () => {
    const r = await slowClient((s) => s.write(`GET /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${creds.admin}\r\n`));
    expect(r.closedAfterMs).toBeLessThan(3_000);
    if (r.data) expect(r.data).toMatch(/^HTTP\/1\.1 408/);
  });

  it('drops a client that trickles its body', async () => {
    const r = await slowClient((s) => {
      s.write(`POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${creds.admin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ty`);
      const t = setInterval(() => (s.writable ? s.write(' ') : clearInterval(t)), 200);
      s.on('close', () => clearInterval(t));
    });
    expect(r.closedAfterMs).toBeLessThan(3_000);
  });
});

describe('logs', () => {
  beforeEach(() => setup());

  it('never contain a token value, a credential or the Authorization header', async () => {
    const created = (await call(server, 'POST', '/v1/tokens', { credential: creds.admin, json: { type: 's2s', name: 'logged' } })).body.value as string;
    const revealed = (await call(server, 'POST', '/v1/tokens/default/reveal', { credential: creds.admin, json: {} })).body.value as string;
    await call(server, 'POST', '/v1/tokens/logged/reveal', { credential: creds.admin, json: { allowPending: true } });
    await introspect(created);
    await introspect(revealed);
    await call(server, 'POST', '/v1/identify', { credential: creds.admin, json: { value: created } });
    await call(server, 'POST', '/v1/identify', { credential: creds.admin, raw: `{"value":"${created}"` }); // parse error echoing input
    await call(server, 'GET', '/v1/tokens', { credential: 'tctl_key_' + 'B'.repeat(40) }); // failed auth
    await call(server, 'GET', `/v1/tokens/${encodeURIComponent(created)}`, { credential: creds.admin }); // a value in the URL
    await call(server, 'GET', `/v1/tokens?token=${created}`, { credential: creds.admin });
    const all = server.logs.join('');
    expect(server.logs.length).toBeGreaterThan(8);
    for (const secret of [created, revealed, creds.admin, creds.service, 'B'.repeat(40)]) {
      expect(all).not.toContain(secret);
      expect(all).not.toContain(secret.slice(-20));
    }
    expect(all.toLowerCase()).not.toContain('authorization');
    expect(all).not.toContain('Bearer');
    // Structured: one JSON object per line, with the route and status.
    const lines = all.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((l) => l.route === '/v1/introspect' && l.status === 200 && l.principal)).toBe(true);
    // Changes are logged by token id (never by value).
    expect(lines.some((l) => l.msg === 'token created' && /^tok_/.test(l.tokenId))).toBe(true);
  });
});
