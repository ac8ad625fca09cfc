import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { openRawDatabase, sqliteDriverEnv } from '../../helpers/sqlite.js';
import { openDataDir } from '../../../src/server/data-dir.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServerApp } from '../../../src/server/app.js';
import { mintOpaqueToken } from '../../../src/secrets/opaque.js';
import { Authenticator, REMEMBERED_MS } from '../../../src/server/auth/authenticator.js';
import { PLAIN_TOKEN, plainTokenOf } from '../../../src/server/introspection/handler.js';
import { listPrincipals, removePrincipal } from '../../../src/tokens/principals.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';
import { logLines } from '../../helpers/log-lines.js';

/**
 * POST /v1/introspect has one door, the handler in front of fastify (src/server/introspection/handler.ts): every
 * answer of the route comes from it, successes, schema errors and refusals alike, and each request is logged by it.
 */
let fast: TestServer;
let creds: { admin: string; service: string; user: string };
const tokens: Record<string, string> = {};

const AUTH_LIMIT = { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 };
/** Room for a token longer than the schema allows in UTF-16 units but not in code points (as ajv counts). */
const LIMITS = { bodyLimit: 64 * 1024 };

/** Another service over the same store and clock, listening on a port of its own, its log lines kept. */
async function anotherApp(options: Partial<Parameters<typeof buildServerApp>[0]>): Promise<{ app: Awaited<ReturnType<typeof buildServerApp>>; url: string; logs: string[] }> {
  const logs: string[] = [];
  const app = await buildServerApp({
    storage: fast.storage,
    memory: fast.memory,
    clock: fast.clock,
    logStream: logLines(logs).sink,
    logLevel: 'info',
    authLimit: AUTH_LIMIT,
    usageFlushMs: 0,
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, logs };
}

beforeAll(async () => {
  fast = await startTestServer({ authLimit: AUTH_LIMIT, limits: LIMITS });
  const init = await fast.initAccount({ name: 'acme' });
  creds = { admin: init.credential, service: await fast.addPrincipal('acme', 'service', 'gateway'), user: await fast.addPrincipal('acme', 'user', 'uma') };

  const create = async (type: string, name: string) =>
    (await call(fast, 'POST', '/v1/tokens', { credential: creds.admin, json: { type, name } })).body.value as string;
  tokens.active = await create('s2s', 'active-one');
  tokens.draining = await create('onelink', 'soon-deleted');
  tokens.api = (await call(fast, 'POST', '/v1/tokens/default/reveal', { credential: creds.admin, json: {} })).body.value as string;
  fast.clock.advance(31 * 60_000);
  await call(fast, 'DELETE', '/v1/tokens/soon-deleted', { credential: creds.admin, json: { confirmation: 'Delete token' } });
  tokens.pending = await create('onelink', 'pending-one');
});

afterAll(async () => {
  await fast?.close();
});

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | undefined>;
}

/** One raw request, headers exactly as given (no content-length unless given: then it is chunked). */
function send(base: string, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(opts.path ?? '/v1/introspect', base);
    const req = http.request(url, { method: opts.method ?? 'POST', headers: opts.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => {
        const pick = ['content-type', 'cache-control', 'x-content-type-options', 'www-authenticate', 'retry-after'];
        resolve({ status: res.statusCode!, body, headers: Object.fromEntries(pick.map((h) => [h, res.headers[h] as string | undefined])) });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const FORM = 'application/x-www-form-urlencoded';
const form = (body: string, credential: string | null = creds.service, type = FORM) => ({
  headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
  body,
});

/** Sends a request to the service; returns the answer and whether the introspection door logged it. */
async function introspect(name: string, opts: Parameters<typeof send>[1]): Promise<{ answer: Answer; door: boolean }> {
  const before = fast.logs.length;
  const answer = await send(fast.url, opts);
  // Every answer carries the service's headers; only an active token's answer may be kept, and says how long.
  if (answer.status === 200 && answer.body.startsWith('{"active":true')) expect(answer.headers['cache-control'], name).toMatch(/^private, max-age=\d+$/);
  else expect(answer.headers['cache-control'], name).toBe('no-store');
  expect(answer.headers['x-content-type-options'], name).toBe('nosniff');
  expect(answer.headers['content-type'], name).toMatch(/^application\/json/);
  const lines = fast.logs.slice(before).map((l) => JSON.parse(l) as { msg: string; reqId?: string; route?: string; status?: number });
  const requestLine = lines.find((l) => l.msg === 'request');
  if (requestLine) expect(requestLine.status, name).toBe(answer.status);
  return { answer, door: requestLine?.reqId?.startsWith('introspect-') ?? false };
}

/** The OAuth error of an answer (RFC 6749 section 5.2): the only keys are error and error_description. */
function errorOf(answer: Answer): { error: string; error_description: string } {
  const body = JSON.parse(answer.body) as { error: string; error_description: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  return body;
}

describe('the introspection door', () => {
  it('answers well-formed requests, and words schema errors as the API does', async () => {
    const cases: [string, Parameters<typeof send>[1], number, string][] = [
      ['active s2s', form(`token=${tokens.active}`), 200, '"status":"active"'],
      ['API token (JWT)', form(`token=${tokens.api}`), 200, '"type":"api"'],
      ['draining', form(`token=${tokens.draining}`), 200, '"status":"draining"'],
      ['pending', form(`token=${tokens.pending}`), 200, '{"active":false}'],
      ['unknown', form(`token=${mintOpaqueToken('s2s')}`), 200, '{"active":false}'],
      ['malformed', form('token=x'), 200, '{"active":false}'],
      ['empty', form('token='), 200, '{"active":false}'],
      ['by an admin', form(`token=${tokens.active}`, creds.admin), 200, '"status":"active"'],
      ['with a hint', form(`token=${tokens.active}&token_type_hint=access_token`), 200, '"status":"active"'],
      ['hint first', form(`token_type_hint=x&token=${tokens.active}`), 200, '"status":"active"'],
      ['percent-encoded', form(`token=${encodeURIComponent(tokens.active!).replace(/_/g, '%5F')}`), 200, '"status":"active"'],
      ['extra parameters', form(`token=${tokens.active}&client_id=abc&x`), 200, '"status":"active"'],
      ['"=" in the value', form('token=a=b'), 200, '{"active":false}'],
      ['"+" in the value', form('token=tctl+s2s'), 200, '{"active":false}'],
      ["fetch's content type", form(`token=${tokens.active}`, creds.service, `${FORM};charset=UTF-8`), 200, '"status":"active"'],
      ['JSON body', { headers: { 'content-type': 'application/json', authorization: `Bearer ${creds.service}` }, body: JSON.stringify({ token: tokens.active }) }, 200, '"status":"active"'],
      ['a query string', { ...form(`token=${tokens.active}`), path: '/v1/introspect?debug=1' }, 200, '"status":"active"'],
      ['chunked body', { headers: { 'content-type': FORM, authorization: `Bearer ${creds.service}`, 'transfer-encoding': 'chunked' }, body: `token=${tokens.active}` }, 200, '"status":"active"'],
      ['no token', form('foo=bar'), 400, "invalid request: body must have required property 'token'"],
      ['no body', form(''), 400, "must have required property 'token'"],
      ['token twice', form('token=a&token=b'), 400, 'invalid request: body/token must be string'],
      ['token too long', form(`token=${'a'.repeat(8193)}`), 400, 'must NOT have more than 8192 characters'],
      ['long in UTF-16 units, not in code points', form(`token=${'😀'.repeat(5000)}`), 200, '{"active":false}'],
      ['too long in code points', form(`token=${'😀'.repeat(8193)}`), 400, 'must NOT have more than 8192 characters'],
      ['hint too long', form(`token=x&token_type_hint=${'h'.repeat(65)}`), 400, 'body/token_type_hint must NOT have more than 64'],
      ['hint twice', form('token=x&token_type_hint=a&token_type_hint=b'), 400, 'body/token_type_hint must be string'],
      ['JSON that is not JSON', { headers: { 'content-type': 'application/json', authorization: `Bearer ${creds.service}` }, body: '{"token":' }, 400, 'request body is not valid JSON'],
      ['a JSON array', { headers: { 'content-type': 'application/json', authorization: `Bearer ${creds.service}` }, body: '[1]' }, 400, 'invalid request: body must be object'],
    ];
    for (const [name, opts, status, expected] of cases) {
      const { answer, door } = await introspect(name, opts);
      expect(answer.status, name).toBe(status);
      expect(answer.body, name).toContain(expected);
      expect(door, `${name}: logged by the introspection door`).toBe(true);
    }
  });

  it('refuses what it must refuse, with the OAuth error body and the headers a client acts on', async () => {
    const cases: [string, Parameters<typeof send>[1], number, string, RegExp, RegExp | undefined][] = [
      ['no credential', form(`token=${tokens.active}`, null), 401, 'invalid_client', /no client credentials/, /^Basic realm="tokenctl", charset="UTF-8", Bearer realm="tokenctl"$/],
      ['wrong credential', form(`token=${tokens.active}`, 'tctl_key_' + 'A'.repeat(40)), 401, 'invalid_token', /client authentication failed/, /^Bearer realm="tokenctl", error="invalid_token", error_description="client authentication failed/],
      ['a role that may not introspect', form(`token=${tokens.active}`, creds.user), 401, 'insufficient_scope', /only service principals and admins may introspect/, /^Bearer realm="tokenctl", error="insufficient_scope"/],
      ['plain text (not a form, not JSON)', form(`token=${tokens.active}`, creds.service, 'text/plain'), 415, 'invalid_request', /unsupported content type/, undefined],
      ['another content type', form(`token=${tokens.active}`, creds.service, 'application/xml'), 415, 'invalid_request', /unsupported content type/, undefined],
      ['no content type', { headers: { authorization: `Bearer ${creds.service}`, 'content-length': '7' }, body: 'token=x' }, 415, 'invalid_request', /unsupported content type/, undefined],
      ['oversized body', form(`token=${'a'.repeat(70_000)}`), 413, 'invalid_request', /larger than 65536 bytes/, undefined],
      ['oversized chunked body', { headers: { 'content-type': FORM, authorization: `Bearer ${creds.service}`, 'transfer-encoding': 'chunked' }, body: `token=${'a'.repeat(70_000)}` }, 413, 'invalid_request', /larger than/, undefined],
    ];
    for (const [name, opts, status, error, description, challenge] of cases) {
      const { answer, door } = await introspect(name, opts);
      expect(answer.status, name).toBe(status);
      expect(errorOf(answer), name).toEqual({ error, error_description: expect.stringMatching(description) });
      expect(door, `${name}: logged by the introspection door`).toBe(true);
      if (challenge) expect(answer.headers['www-authenticate'], name).toMatch(challenge);
      else expect(answer.headers['www-authenticate'], name).toBeUndefined();
    }
    // Not introspection's: another method is the router's (404), as for any path without such a route.
    expect((await send(fast.url, { method: 'GET', headers: { authorization: `Bearer ${creds.service}` } })).status).toBe(404);
  });

  it('reads header names in any case, and goes on after a client that leaves in the middle of its body', async () => {
    // Title-Case (as Python's requests sends), lower case, and neither.
    for (const [auth, type] of [
      ['Authorization', 'Content-Type'],
      ['authorization', 'content-type'],
      ['AUTHORIZATION', 'cOnTeNt-TyPe'],
    ]) {
      const answer = await send(fast.url, { headers: { [auth!]: `Bearer ${creds.service}`, [type!]: FORM }, body: `token=${tokens.active}` });
      expect(answer.status, auth).toBe(200);
      expect(answer.body, auth).toMatch(/^\{"active":true/);
    }
    // Headers and part of a body, then gone: nothing to answer, and no error reaches the process.
    const closed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(fast.url).port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/introspect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${creds.service}\r\nContent-Type: ${FORM}\r\nContent-Length: 100\r\n\r\ntoken=abc`,
          () => setImmediate(() => socket.destroy()),
        );
      });
      let got = '';
      socket.on('data', (d) => (got += String(d)));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(closed).toBe('');
    const after = await send(fast.url, form(`token=${tokens.active}`));
    expect(after.status).toBe(200);
  });

  it('refuses a blocked address with 429 even with a valid credential, like every route', async () => {
    const other = await anotherApp({ limits: LIMITS });
    try {
      for (let i = 0; i < AUTH_LIMIT.maxFailures; i++) expect((await send(other.url, form('token=x', `tctl_key_wrong${i}`))).status).toBe(401);
      const answer = await send(other.url, form(`token=${tokens.active}`));
      expect(answer.status).toBe(429);
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
      expect(JSON.parse(answer.body)).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/too many failed authentication attempts/) });
      // The same address is refused on the API too: one limit, one door.
      expect((await send(other.url, { method: 'GET', path: '/v1/tokens', headers: { authorization: `Bearer ${creds.admin}` } })).status).toBe(429);
    } finally {
      await other.app.close();
    }
  });
});

describe('the introspection door behind a trusted proxy (nginx, --trust-proxy)', () => {
  it('counts failures against the client X-Forwarded-For names, as the API does', async () => {
    const { app, url: base, logs } = await anotherApp({ trustProxy: ['127.0.0.1'] });
    try {
      const via = (client: string, body: string, credential: string | null = creds.service) => {
        const f = form(body, credential);
        return { ...f, headers: { ...f.headers, 'x-forwarded-for': client } };
      };
      const ok = await send(base, via('203.0.113.7', `token=${tokens.active}`));
      expect(ok.status).toBe(200);
      expect(logs.some((l) => l.includes('"reqId":"introspect-'))).toBe(true);
      // Failures from one client (behind the proxy) block that client, on both doors, and no other one.
      for (let i = 0; i < AUTH_LIMIT.maxFailures; i++) expect((await send(base, via('203.0.113.7', 'token=x', `tctl_key_wrong${i}`))).status).toBe(401);
      expect((await send(base, via('203.0.113.7', `token=${tokens.active}`))).status).toBe(429);
      // A spoofed chain: only the address next to the trusted proxy counts.
      expect((await send(base, via('198.51.100.1, 203.0.113.7', `token=${tokens.active}`))).status).toBe(429);
      expect((await send(base, via('203.0.113.8', `token=${tokens.active}`))).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('the introspection door on a connection kept alive (as gateways keep theirs)', () => {
  /** Requests over one keep-alive connection: every request on the same socket (counted). */
  function oneConnection(base: string) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    const post = (opts: { headers: Record<string, string>; body: string }) =>
      new Promise<Answer>((resolve, reject) => {
        const req = http.request(new URL('/v1/introspect', base), { method: 'POST', headers: opts.headers, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body, headers: { 'retry-after': res.headers['retry-after'] } }));
        });
        req.on('socket', (socket) => sockets.add(socket));
        req.on('error', reject);
        req.end(opts.body);
      });
    return { post, sockets: () => sockets.size, close: () => agent.destroy() };
  }

  it('looks a credential up once per connection, and never answers past a change: another credential, a principal removed, a blocked address', async () => {
    const server = await startTestServer({ authLimit: AUTH_LIMIT });
    // Another process on the same data (tokenctl server remove-principal while the service runs).
    const other = await openDataDir(path.join(server.dataDir, 'data'), { TOKENCTL_SERVER_KEY: server.serverKey, ...sqliteDriverEnv }, { create: false });
    const c = oneConnection(server.url);
    const checks = vi.spyOn(Authenticator.prototype, 'check');
    try {
      const { credential: admin } = await server.initAccount({ name: 'acme' });
      const gone = await server.addPrincipal('acme', 'service', 'gone');
      const stays = await server.addPrincipal('acme', 'service', 'stays');
      const value = (await call(server, 'POST', '/v1/tokens', { credential: admin, json: { type: 's2s', name: 'kept' } })).body.value as string;
      server.clock.advance(31 * 60_000);
      const active = async (credential: string) => {
        const r = await c.post(form(`token=${value}`, credential));
        return r.status === 200 && (JSON.parse(r.body) as { active: boolean }).active;
      };

      checks.mockClear();
      for (let i = 0; i < 5; i++) expect(await active(gone)).toBe(true);
      // The same Authorization header again on the same connection: recalled, not checked again.
      expect(checks).toHaveBeenCalledTimes(1);
      // Another credential on it is checked, and the remembered one forgotten: a wrong one is refused, as ever (a
      // failure is never remembered); a right one is remembered in its place.
      expect((await c.post(form('token=x', 'tctl_key_' + 'B'.repeat(40)))).status).toBe(401);
      expect(await active(gone)).toBe(true);
      expect(checks).toHaveBeenCalledTimes(3);
      expect(await active(stays)).toBe(true);
      expect(await active(stays)).toBe(true);
      expect(await active(gone)).toBe(true);
      expect(checks).toHaveBeenCalledTimes(5);
      // A body sent in two pieces (two reads for the door) is answered the same.
      const twoPieces = await new Promise<Answer>((resolve, reject) => {
        const body = `token=${value}`;
        const req = http.request(new URL('/v1/introspect', server.url), { method: 'POST', headers: form(body, gone).headers, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: {} }));
        });
        req.on('error', reject);
        req.flushHeaders();
        req.write(body.slice(0, 9), () => setTimeout(() => req.end(body.slice(9)), 20));
      });
      expect(twoPieces.status).toBe(200);
      expect(JSON.parse(twoPieces.body)).toMatchObject({ active: true, status: 'active' });

      // client_secret_basic recalled keeps its client id: a form's client_id must still name it.
      const basic = (clientId: string) => `Basic ${Buffer.from(`${clientId}:${stays}`).toString('base64')}`;
      const stayingId = (await listPrincipals(server.storage, 'acme')).find((p) => p.name === 'stays')!.id;
      const viaBasic = (body: string) => c.post({ headers: { 'content-type': FORM, authorization: basic(stayingId) }, body });
      expect((await viaBasic(`token=${value}`)).status).toBe(200);
      expect((await viaBasic(`token=${value}&client_id=${stayingId}`)).status).toBe(200);
      expect((await viaBasic(`token=${value}&client_id=prn_someone_else`)).status).toBe(400);

      // Removed, by another process (tokenctl server remove-principal): refused on this connection, where its success
      // is remembered, as soon as this service knows, as on a new connection.
      expect(await active(gone)).toBe(true);
      const remembered = performance.now();
      await removePrincipal(other, 'acme', 'gone', server.clock);
      for (let i = 0; (await send(server.url, form('token=x', gone))).status !== 401; i++) {
        if (i > 500) throw new Error('the removed principal was never refused on a new connection');
        await new Promise((r) => setTimeout(r, 10));
      }
      const refused = await c.post(form(`token=${value}`, gone));
      expect(refused.status).toBe(401);
      // Refused because of the change, not because the remembered success had run out (which would prove nothing).
      expect(performance.now() - remembered, 'the change took as long as a success is remembered').toBeLessThan(REMEMBERED_MS);

      // An address blocked by guesses from other connections: 429 here too, though this connection's success is remembered.
      expect(await active(stays)).toBe(true);
      expect(await active(stays)).toBe(true);
      // (The wrong credential and the removed one above were guesses already.)
      for (let i = 0; i < AUTH_LIMIT.maxFailures; i++) expect([401, 429]).toContain((await send(server.url, form('token=x', `tctl_key_wrong${i}`))).status);
      expect((await send(server.url, form(`token=${value}`, stays))).status).toBe(429);
      checks.mockClear();
      const blocked = await c.post(form(`token=${value}`, stays));
      expect(blocked.status).toBe(429);
      expect(checks, 'answered from the remembered success, not by check').not.toHaveBeenCalled();
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect(c.sockets()).toBe(1);
    } finally {
      checks.mockRestore();
      c.close();
      await other.close();
      await server.close();
    }
  });

  it('reads a plain `token=<value>` body from its bytes exactly as the general way reads it; anything else goes the general way', () => {
    const general = (body: string) => PLAIN_TOKEN.exec(body)?.[1] ?? null;
    const plain = (body: string) => plainTokenOf(Buffer.from(body, 'utf8'));
    for (const body of ['token=tctl_s2s_abc', 'token=x', 'token=a=b', `token=${'k'.repeat(8192)}`, `token=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln`, 'token=!~']) {
      expect(plain(body), body.slice(0, 40)).toBe(general(body));
    }
    // The general way's: empty, encoded, more fields, another field first, another case, non-ASCII, spaces and
    // control characters, longer than a token may be (its error is worded there).
    for (const body of ['token=', 'token', '', 'token=a%5Fb', 'token=a+b', 'token=a&token_type_hint=x', 'token_type_hint=x&token=a', 'Token=a', 'token=gäte', 'token=a b', 'token=a\x7f', 'token=a\tb', `token=${'k'.repeat(8193)}`]) {
      expect(plain(body), JSON.stringify(body.slice(0, 40))).toBeNull();
    }
  });
});

describe('the introspection door beside the server', () => {
  it("answers a credential it must look up while the database fails with the service's 500, and the service goes on", async () => {
    const server = await startTestServer();
    try {
      await server.initAccount({ name: 'acme' });
      const known = await server.addPrincipal('acme', 'service', 'known');
      // Another connection makes the principals unreadable (standing in for an I/O error or a corrupt file). A
      // credential the service does not know makes it read the database again, which fails: it cannot tell.
      const db = await openRawDatabase(path.join(server.dataDir, 'data', 'tokenctl.db'));
      db.exec('ALTER TABLE principals RENAME TO principals_moved');
      db.close();
      const unknown = 'tctl_key_' + 'q'.repeat(40);
      const r = await send(server.url, form('token=x', unknown));
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)).toEqual({ error: 'server_error', error_description: expect.stringMatching(/failed to handle this request/) });
      expect(r.body).not.toContain(unknown);
      // The API's door answers the same way; a credential known already goes on working from memory.
      expect((await call(server, 'GET', '/v1/tokens', { credential: unknown })).status).toBe(500);
      expect((await send(server.url, form('token=x', known))).status).toBe(200);
      expect((await call(server, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('listens on every address of a name such as localhost, as fastify does', async () => {
    // Whether this machine has IPv6 loopback at all.
    const hasIpv6 = await new Promise<boolean>((resolve) => {
      const probe = net.createServer().once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    // The usual hosts file of a desktop or CI image: localhost is 127.0.0.1 and ::1.
    const original = dns.lookup.bind(dns) as (...args: unknown[]) => void;
    const lookup = vi.spyOn(dns, 'lookup').mockImplementation(((host: string, ...rest: unknown[]) => {
      const callback = rest.pop() as (...args: unknown[]) => void;
      const options = (rest[0] ?? {}) as { all?: boolean } | number;
      if (host !== 'localhost') return original(host, options, callback);
      const all = [{ address: '127.0.0.1', family: 4 }, ...(hasIpv6 ? [{ address: '::1', family: 6 }] : [])];
      process.nextTick(() => (typeof options === 'object' && options.all ? callback(null, all) : callback(null, '127.0.0.1', 4)));
    }) as unknown as typeof dns.lookup);
    const app = await buildServerApp({ storage: fast.storage, memory: fast.memory, clock: fast.clock, usageFlushMs: 0 });
    try {
      await app.listen({ host: 'localhost', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const hosts = hasIpv6 ? ['127.0.0.1', '[::1]'] : ['127.0.0.1'];
      expect(app.addresses().length).toBe(hosts.length);
      for (const host of hosts) {
        const r = await send(`http://${host}:${port}`, form(`token=${tokens.active}`));
        expect(r.status, host).toBe(200);
        expect(JSON.parse(r.body).active, host).toBe(true);
      }
    } finally {
      lookup.mockRestore();
      await app.close();
    }
  });
});
