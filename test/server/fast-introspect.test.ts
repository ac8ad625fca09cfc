import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { openRawDatabase } from '../helpers/sqlite.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServerApp } from '../../src/server/app.js';
import { mintOpaqueToken } from '../../src/secrets/opaque.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * POST /v1/introspect has a fast path in front of fastify (src/server/introspection/fast-path.ts). Every request here is
 * sent to the service with it (on by default) and to a second app over the same store and clock with it off,
 * and the two answers must be identical: status, body and the headers a client acts on. The request logs show
 * which path answered, so the test also proves that both paths were taken.
 */
let fast: TestServer;
let plain: { app: FastifyInstance; url: string; logs: string[] };
let creds: { admin: string; service: string; user: string };
const tokens: Record<string, string> = {};

const AUTH_LIMIT = { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 };
/** Room for a token longer than the schema allows in UTF-16 units but not in code points (as ajv counts). */
const LIMITS = { bodyLimit: 64 * 1024 };

/** Another service over the same store and clock, listening on a port of its own, its log lines kept. */
async function anotherApp(options: Partial<Parameters<typeof buildServerApp>[0]>): Promise<{ app: Awaited<ReturnType<typeof buildServerApp>>; url: string; logs: string[] }> {
  const logs: string[] = [];
  const app = await buildServerApp({
    store: fast.store,
    clock: fast.clock,
    logStream: { write: (line) => void logs.push(line) },
    logLevel: 'info',
    authLimit: AUTH_LIMIT,
    lastUsedFlushMs: 0,
    ...options,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, logs };
}

beforeAll(async () => {
  fast = await startTestServer({ authLimit: AUTH_LIMIT, limits: LIMITS });
  const init = await fast.initAccount({ name: 'acme' });
  creds = { admin: init.credential, service: await fast.addPrincipal('acme', 'service', 'gateway'), user: await fast.addPrincipal('acme', 'user', 'uma') };
  plain = await anotherApp({ limits: LIMITS, fastIntrospection: false });

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
  await plain?.app.close();
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

/** Sends the same request to both apps; returns the answer and which path answered on the fast app. */
async function both(name: string, opts: Parameters<typeof send>[1]): Promise<{ answer: Answer; fastPath: boolean }> {
  const before = fast.logs.length;
  const a = await send(fast.url, opts);
  const b = await send(plain.url, opts);
  expect(a, name).toEqual(b);
  const lines = fast.logs.slice(before).map((l) => JSON.parse(l) as { msg: string; reqId?: string });
  const requestLine = lines.find((l) => l.msg === 'request');
  return { answer: a, fastPath: requestLine?.reqId?.startsWith('fast-') ?? false };
}

describe('the introspection fast path', () => {
  it('answers well-formed requests itself, exactly as the fastify route does', async () => {
    const cases: [string, Parameters<typeof send>[1], string][] = [
      ['active s2s', form(`token=${tokens.active}`), '"status":"active"'],
      ['API token (JWT)', form(`token=${tokens.api}`), '"type":"api"'],
      ['draining', form(`token=${tokens.draining}`), '"status":"draining"'],
      ['pending', form(`token=${tokens.pending}`), '{"active":false}'],
      ['unknown', form(`token=${mintOpaqueToken('s2s')}`), '{"active":false}'],
      ['malformed', form('token=x'), '{"active":false}'],
      ['empty', form('token='), '{"active":false}'],
      ['by an admin', form(`token=${tokens.active}`, creds.admin), '"status":"active"'],
      ['with a hint', form(`token=${tokens.active}&token_type_hint=access_token`), '"status":"active"'],
      ['hint first', form(`token_type_hint=x&token=${tokens.active}`), '"status":"active"'],
      ['percent-encoded', form(`token=${encodeURIComponent(tokens.active!).replace(/_/g, '%5F')}`), '"status":"active"'],
      ['extra parameters', form(`token=${tokens.active}&client_id=abc&x`), '"status":"active"'],
      ['"=" in the value', form('token=a=b'), '{"active":false}'],
      ['"+" in the value', form('token=tctl+s2s'), '{"active":false}'],
      ["fetch's content type", form(`token=${tokens.active}`, creds.service, `${FORM};charset=UTF-8`), '"status":"active"'],
      // The route's schema, worded by the service's error handler.
      ['no token', form('foo=bar'), "must have required property 'token'"],
      ['no body', form(''), "must have required property 'token'"],
      ['token twice', form('token=a&token=b'), 'body/token must be string'],
      ['token too long', form(`token=${'a'.repeat(8193)}`), 'must NOT have more than 8192 characters'],
      ['long in UTF-16 units, not in code points', form(`token=${'😀'.repeat(5000)}`), '{"active":false}'],
      ['too long in code points', form(`token=${'😀'.repeat(8193)}`), 'must NOT have more than 8192 characters'],
      ['hint too long', form(`token=x&token_type_hint=${'h'.repeat(65)}`), 'body/token_type_hint must NOT have more than 64'],
      ['hint twice', form('token=x&token_type_hint=a&token_type_hint=b'), 'body/token_type_hint must be string'],
    ];
    for (const [name, opts, expected] of cases) {
      const { answer, fastPath } = await both(name, opts);
      expect(answer.body, name).toContain(expected);
      expect(fastPath, `${name}: answered by the fast path`).toBe(true);
    }
  });

  it('leaves every other request to fastify, which answers it as before', async () => {
    const cases: [string, Parameters<typeof send>[1], number][] = [
      ['no credential', form(`token=${tokens.active}`, null), 401],
      ['wrong credential', form(`token=${tokens.active}`, 'tctl_key_' + 'A'.repeat(40)), 401],
      ['a role that may not introspect', form(`token=${tokens.active}`, creds.user), 403],
      ['JSON body', { headers: { 'content-type': 'application/json', authorization: `Bearer ${creds.service}` }, body: JSON.stringify({ token: tokens.active }) }, 200],
      ['plain text (a string, not the object the schema wants)', form(`token=${tokens.active}`, creds.service, 'text/plain'), 400],
      ['another content type', form(`token=${tokens.active}`, creds.service, 'application/xml'), 415],
      ['a query string', { ...form(`token=${tokens.active}`), path: '/v1/introspect?debug=1' }, 200],
      ['chunked body', { headers: { 'content-type': FORM, authorization: `Bearer ${creds.service}`, 'transfer-encoding': 'chunked' }, body: `token=${tokens.active}` }, 200],
      ['oversized body', form(`token=${'a'.repeat(70_000)}`), 413],
      ['GET', { method: 'GET', headers: { authorization: `Bearer ${creds.service}` } }, 404],
    ];
    for (const [name, opts, status] of cases) {
      const { answer, fastPath } = await both(name, opts);
      expect(answer.status, name).toBe(status);
      expect(fastPath, `${name}: not the fast path`).toBe(false);
    }
  });

  it('refuses a blocked address with 429 even with a valid credential, like every route', async () => {
    for (let i = 0; i < AUTH_LIMIT.maxFailures; i++) await both(`failure ${i}`, form('token=x', 'tctl_key_wrong'));
    const { answer, fastPath } = await both('blocked', form(`token=${tokens.active}`));
    expect(answer.status).toBe(429);
    expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    expect(fastPath).toBe(false);
  });
});

describe('the fast path behind a trusted proxy (nginx, --trust-proxy)', () => {
  it("answers proxied requests itself, counting failures against the client X-Forwarded-For names, as fastify does", async () => {
    const { app, url: base, logs } = await anotherApp({ trustProxy: ['127.0.0.1'] });
    try {
      const via = (client: string, body: string, credential: string | null = creds.service) => {
        const f = form(body, credential);
        return { ...f, headers: { ...f.headers, 'x-forwarded-for': client } };
      };
      const answeredBy = async (opts: Parameters<typeof send>[1]) => {
        const before = logs.length;
        const r = await send(base, opts);
        const line = logs.slice(before).map((l) => JSON.parse(l) as { msg: string; reqId?: string }).find((l) => l.msg === 'request');
        return { r, fastPath: line?.reqId?.startsWith('fast-') ?? false };
      };
      const ok = await answeredBy(via('203.0.113.7', `token=${tokens.active}`));
      expect(ok.r.status).toBe(200);
      expect(ok.fastPath).toBe(true);
      // Failures from one client (behind the proxy) block that client, on both doors, and no other one.
      for (let i = 0; i < AUTH_LIMIT.maxFailures; i++) expect((await send(base, via('203.0.113.7', 'token=x', 'tctl_key_wrong'))).status).toBe(401);
      const blocked = await answeredBy(via('203.0.113.7', `token=${tokens.active}`));
      expect(blocked.r.status).toBe(429);
      expect(blocked.fastPath).toBe(false);
      // A spoofed chain: only the address next to the trusted proxy counts.
      expect((await send(base, via('198.51.100.1, 203.0.113.7', `token=${tokens.active}`))).status).toBe(429);
      const other = await answeredBy(via('203.0.113.8', `token=${tokens.active}`));
      expect(other.r.status).toBe(200);
      expect(other.fastPath).toBe(true);
    } finally {
      await app.close();
    }
  });
});

describe('the fast path beside the server', () => {
  it('leaves a failing credential lookup to fastify: a 500, and the service goes on', async () => {
    const server = await startTestServer();
    try {
      await server.initAccount({ name: 'acme' });
      const credential = await server.addPrincipal('acme', 'service', 'fresh'); // never looked up: not remembered
      // Another connection makes the principals unreadable (standing in for an I/O error or a corrupt file).
      const db = await openRawDatabase(path.join(server.dataDir, 'data', 'tokenctl.db'));
      db.exec('ALTER TABLE principals RENAME TO principals_moved');
      db.close();
      const r = await send(server.url, form('token=x', credential));
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)).toEqual({ error: { kind: 'internal', message: expect.stringMatching(/failed to handle this request/) } });
      expect(r.body).not.toContain(credential);
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
    const store = fast.store;
    const app = await buildServerApp({ store, clock: fast.clock, lastUsedFlushMs: 0 });
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
