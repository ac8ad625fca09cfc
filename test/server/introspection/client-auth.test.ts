import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issuerFor } from '../../../src/secrets/jwt.js';
import { addPrincipal } from '../../../src/tokens/principals.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

/**
 * Introspection takes the caller's credential the ways OAuth clients send it (RFC 7662 section 2.1, RFC 6749
 * section 2.3): client_secret_basic, client_secret_post, or the credential alone as a bearer token; and refuses in the
 * shapes OAuth libraries parse. The real service on 127.0.0.1, raw HTTP requests.
 */
const MIN = 60_000;
const AUTH_LIMIT = { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 };
let server: TestServer;
let accountId: string;
let admin: string;
let gateway: { id: string; secret: string };
let user: { id: string; secret: string };
const tokens: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer({ authLimit: AUTH_LIMIT });
  const init = await server.initAccount({ name: 'acme' });
  accountId = init.accountId;
  admin = init.credential;
  const principal = async (role: 'service' | 'user', name: string) => {
    const r = await addPrincipal(server.storage, 'acme', role, name, server.clock);
    await server.app.accounts.caughtUp(accountId);
    return { id: r.principal.id, secret: r.credential };
  };
  gateway = await principal('service', 'gateway');
  user = await principal('user', 'uma');
  const create = async (type: string, name: string) =>
    (await fetch(`${server.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ type, name }) }).then((r) => r.json())).value as string;
  tokens.active = await create('s2s', 'active-one');
  tokens.draining = await create('s2s', 'soon-deleted');
  server.clock.advance(31 * MIN);
  await fetch(`${server.url}/v1/tokens/soon-deleted`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ confirmation: 'Delete token' }) });
});

afterAll(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  challenge: string | null;
  cacheControl: string | null;
  retryAfter: string | null;
}

/** POST /v1/introspect with a form body (fields in order, encoded as URLSearchParams does) and the given headers. */
async function introspect(fields: [string, string][], headers: Record<string, string> = {}, base = server.url): Promise<Answer> {
  const r = await fetch(`${base}/v1/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return {
    status: r.status,
    body: (await r.json()) as Record<string, unknown>,
    challenge: r.headers.get('www-authenticate'),
    cacheControl: r.headers.get('cache-control'),
    retryAfter: r.headers.get('retry-after'),
  };
}

const basic = (id: string, secret: string, encode = false) => {
  const part = (s: string) => (encode ? encodeURIComponent(s).replace(/_/g, '%5F') : s);
  return { authorization: `Basic ${Buffer.from(`${part(id)}:${part(secret)}`).toString('base64')}` };
};
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const BASIC_CHALLENGE = 'Basic realm="tokenctl", charset="UTF-8"';

describe('client authentication at the introspection endpoint', () => {
  it('client_secret_basic: the principal id and its credential, encoded (RFC 6749) or not', async () => {
    for (const encode of [false, true]) {
      const r = await introspect([['token', tokens.active!]], basic(gateway.id, gateway.secret, encode));
      expect(r.status, `encoded: ${encode}`).toBe(200);
      expect(r.body).toMatchObject({ active: true, type: 's2s', status: 'active', sub: accountId, client_id: accountId, iss: issuerFor(accountId) });
    }
  });

  it('client_secret_post: client_id and client_secret in the form', async () => {
    const r = await introspect([
      ['token', tokens.active!],
      ['token_type_hint', 'access_token'],
      ['client_id', gateway.id],
      ['client_secret', gateway.secret],
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ active: true, status: 'active' });
  });

  it('the credential alone as a bearer token, as before', async () => {
    expect((await introspect([['token', tokens.active!]], bearer(gateway.secret))).body).toMatchObject({ active: true });
  });

  it('refuses a failed client authentication with invalid_client, and the challenge of the scheme the client used', async () => {
    const cases: [string, [string, string][], Record<string, string>, string | null][] = [
      ['Basic, wrong secret', [['token', tokens.active!]], basic(gateway.id, 'tctl_key_wrong1'), BASIC_CHALLENGE],
      ["Basic, another principal's id", [['token', tokens.active!]], basic(user.id, gateway.secret), BASIC_CHALLENGE],
      ['Basic, unreadable', [['token', tokens.active!]], { authorization: 'Basic %%%' }, BASIC_CHALLENGE],
      ['post, wrong secret', [['token', tokens.active!], ['client_id', gateway.id], ['client_secret', 'tctl_key_wrong1']], {}, null],
      ["post, another principal's id", [['token', tokens.active!], ['client_id', user.id], ['client_secret', gateway.secret]], {}, null],
      ['post, client_id only', [['token', tokens.active!], ['client_id', gateway.id]], {}, null],
      ['post, client_secret twice', [['token', tokens.active!], ['client_id', gateway.id], ['client_secret', gateway.secret], ['client_secret', gateway.secret]], {}, null],
      ['nothing at all', [['token', tokens.active!]], {}, 'Basic realm="tokenctl", charset="UTF-8", Bearer realm="tokenctl"'],
    ];
    for (const [name, fields, headers, challenge] of cases) {
      const r = await introspect(fields, headers);
      expect(r.status, name).toBe(401);
      expect(r.body, name).toEqual({ error: 'invalid_client', error_description: expect.stringMatching(/^client authentication failed/) });
      expect(r.challenge, name).toBe(challenge);
      expect(r.cacheControl, name).toBe('no-store');
    }
  });

  it('answers a bearer credential in RFC 6750 terms: invalid_token, and insufficient_scope for a role that may not introspect (401, RFC 7662 section 2.3)', async () => {
    const unknown = await introspect([['token', tokens.active!]], bearer('tctl_key_wrong1'));
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
    expect(unknown.challenge).toMatch(/^Bearer realm="tokenctl", error="invalid_token", error_description="[^"]+"$/);
    const role = await introspect([['token', tokens.active!]], bearer(user.secret));
    expect(role.status).toBe(401);
    expect(role.body).toEqual({ error: 'insufficient_scope', error_description: "only service principals and admins may introspect tokens; this credential's role is 'user'" });
    expect(role.challenge).toMatch(/^Bearer realm="tokenctl", error="insufficient_scope", error_description="only service principals/);
    // The same principal as a client: invalid_client, saying why.
    const asClient = await introspect([['token', tokens.active!]], basic(user.id, user.secret));
    expect(asClient.status).toBe(401);
    expect(asClient.body).toEqual({ error: 'invalid_client', error_description: expect.stringMatching(/only service principals and admins may introspect/) });
    expect(asClient.challenge).toBe(BASIC_CHALLENGE);
  });

  it('takes one client authentication method per request (RFC 6749 section 2.3): invalid_request otherwise', async () => {
    const both = await introspect([['token', tokens.active!], ['client_secret', gateway.secret]], bearer(gateway.secret));
    expect(both.status).toBe(400);
    expect(both.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/one method/) });
    const basicAndPost = await introspect([['token', tokens.active!], ['client_id', gateway.id], ['client_secret', gateway.secret]], basic(gateway.id, gateway.secret));
    expect(basicAndPost.status).toBe(400);
    // A form's client_id beside Basic must name the same client; the same one is fine, and is ignored beside a bearer.
    const otherId = await introspect([['token', tokens.active!], ['client_id', user.id]], basic(gateway.id, gateway.secret));
    expect(otherId.status).toBe(400);
    expect(otherId.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/client_id/) });
    expect((await introspect([['token', tokens.active!], ['client_id', gateway.id]], basic(gateway.id, gateway.secret))).status).toBe(200);
    expect((await introspect([['token', tokens.active!], ['client_id', 'whatever']], bearer(gateway.secret))).status).toBe(200);
    // A missing token: invalid_request, once authenticated.
    const noToken = await introspect([['client_id', gateway.id], ['client_secret', gateway.secret]]);
    expect(noToken.status).toBe(400);
    expect(noToken.body).toEqual({ error: 'invalid_request', error_description: "invalid request: body must have required property 'token'" });
  });

  it('takes client_secret_post from a form only: a JSON body without an Authorization header is unauthenticated', async () => {
    const r = await fetch(`${server.url}/v1/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: tokens.active, client_id: gateway.id, client_secret: gateway.secret }),
    });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: 'invalid_client' });
  });
});

describe('how long an introspection answer may be kept (Cache-Control)', () => {
  it('an active token: 29 minutes (the drain, less a minute); draining: until its drain ends; inactive: no-store', async () => {
    const active = await introspect([['token', tokens.active!]], basic(gateway.id, gateway.secret));
    expect(active.cacheControl).toBe('private, max-age=1740');
    const draining = await introspect([['token', tokens.draining!]], basic(gateway.id, gateway.secret));
    expect(draining.body).toMatchObject({ active: true, status: 'draining' });
    // Deleted just now: 30 minutes of drain left, less the minute of margin.
    expect(draining.cacheControl).toBe('private, max-age=1740');
    server.clock.advance(10 * MIN);
    expect((await introspect([['token', tokens.draining!]], basic(gateway.id, gateway.secret))).cacheControl).toBe('private, max-age=1140');
    server.clock.advance(19.5 * MIN);
    // 30 s of drain left, less than the margin: still active, kept no longer.
    const last = await introspect([['token', tokens.draining!]], basic(gateway.id, gateway.secret));
    expect(last.body).toMatchObject({ active: true, status: 'draining' });
    expect(last.cacheControl).toBe('private, max-age=0');
    server.clock.advance(MIN);
    const pending = (
      await fetch(`${server.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 's2s', name: 'new-one' }) }).then((r) => r.json())
    ).value as string;
    for (const value of [tokens.draining!, pending, 'tctl_s2s_nothing']) {
      const r = await introspect([['token', value]], basic(gateway.id, gateway.secret));
      expect(r.body).toEqual({ active: false });
      expect(r.cacheControl).toBe('no-store');
    }
  });
});

describe('the failed-authentication limit, client by client behind one address', () => {
  it('a gateway that authenticates one way and fails another (a stale secret, a wrong method) never locks out its neighbours; ten guesses do', async () => {
    const limited = await startTestServer({ authLimit: AUTH_LIMIT });
    try {
      const init = await limited.initAccount({ name: 'acme' });
      const r = await addPrincipal(limited.storage, 'acme', 'service', 'gateway', limited.clock);
      await limited.app.accounts.caughtUp(init.accountId);
      const good = { id: r.principal.id, secret: r.credential };
      const at = (fields: [string, string][], headers: Record<string, string> = {}) => introspect(fields, headers, limited.url);
      for (let i = 0; i < 10; i++) {
        // The gateway: right as a bearer, stale as Basic, nothing at all (a module left on "none"), the right secret under the wrong id.
        expect((await at([['token', 'x']], bearer(good.secret))).status).toBe(200);
        expect((await at([['token', 'x']], basic(good.id, 'tctl_key_stale'))).status).toBe(401);
        expect((await at([['token', 'x']])).status).toBe(401);
        expect((await at([['token', 'x'], ['client_id', 'prn_wrong'], ['client_secret', good.secret]])).status).toBe(401);
      }
      // A neighbour behind the same address, by every method.
      expect((await at([['token', 'x']], basic(good.id, good.secret))).status).toBe(200);
      expect((await at([['token', 'x'], ['client_id', good.id], ['client_secret', good.secret]])).status).toBe(200);
      // Guesses are bounded: the stale secret counted once; two different wrong ones reach the limit of 3.
      expect((await at([['token', 'x']], basic(good.id, 'tctl_key_guess1'))).status).toBe(401);
      expect((await at([['token', 'x'], ['client_id', good.id], ['client_secret', 'tctl_key_guess2']])).status).toBe(401);
      for (const headers of [bearer(good.secret), basic(good.id, good.secret)]) {
        const blocked = await at([['token', 'x']], headers);
        expect(blocked.status).toBe(429);
        expect(blocked.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/too many failed authentication attempts/) });
        expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
      }
      expect((await at([['token', 'x'], ['client_id', good.id], ['client_secret', good.secret]])).status).toBe(429);
    } finally {
      await limited.close();
    }
  });
});
