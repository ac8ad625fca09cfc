import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runBin, startBin } from '../helpers/bin.js';
import { freePort } from '../helpers/postgres.js';
import { PYTHON, recipe, rendered, requireClient, runScript, skipWithout, startApache, startNginxNjs, type WebServer } from '../helpers/oauth-clients.js';

/**
 * The OAuth clients resource servers already run, each with the configuration README "Resource servers" documents
 * (docs/resource-servers/), against the built `tokenctl serve` on 127.0.0.1: discovery, introspection of every state a
 * token can be in, offline verification through the account's JWKS with ES256 and RS256 keys, and the error answers.
 *
 * The states come from a TOKENCTL_NOW drill: the service runs at T0, then at T0 + 31 min, then at T0 + 62 min (the
 * last one about now, so that clients checking nbf on their own clock agree with the service about what is pending).
 */
const MIN = 60_000;
const T0 = new Date(Date.now() - 62 * MIN - 5_000);
const at = (minutes: number) => new Date(T0.getTime() + minutes * MIN);

let home: string;
let data: string;
let base: string;
let port: number;
let served: ChildProcess | null = null;
let env: Record<string, string>;
const acme = { id: '', issuer: '', admin: '', clientId: '', secret: '' };
const beta = { id: '', issuer: '', admin: '' };
/** Presented values by name (see beforeAll for what each is). */
const v: Record<string, string> = {};

async function cli(args: string[], when: Date): Promise<string> {
  const r = await runBin(args, { env: { ...env, TOKENCTL_NOW: when.toISOString() } });
  if (r.code !== 0) throw new Error(`tokenctl ${args.join(' ')} exited with ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

/** `tokenctl serve` at `when` (its clock runs on from there), on the one port its public URL names. */
async function serveAt(when: Date): Promise<void> {
  await stopServe();
  const child = startBin(['serve', '--data', data, '--port', String(port), '--log-level', 'warn'], { env: { ...env, TOKENCTL_NOW: when.toISOString() } });
  served = child;
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes(`listening on ${base}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
  child.stdout!.resume();
}

async function stopServe(): Promise<void> {
  const child = served;
  served = null;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function api(credential: string, method: string, url: string, body?: unknown): Promise<any> {
  const r = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${credential}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
  return r.json();
}
const create = async (type: string, name: string) => (await api(acme.admin, 'POST', '/v1/tokens', { type, name })).value as string;
const remove = (name: string) => api(acme.admin, 'DELETE', `/v1/tokens/${name}`, { confirmation: 'Delete token' });
const reveal = async (credential: string, name: string) => (await api(credential, 'POST', `/v1/tokens/${name}/reveal`, {})).value as string;

beforeAll(async () => {
  assertBuilt();
  home = mkdtempSync(path.join(tmpdir(), 'tokenctl-rs-'));
  data = path.join(home, 'data');
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = { TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN: 'off', NO_COLOR: '1', TOKENCTL_PUBLIC_URL: base };

  // T0: two accounts. acme signs its default token with EdDSA, then switches to ES256; beta signs with RS256.
  acme.admin = (await cli(['server', 'init', '--data', data, '--account', 'acme'], T0)).trim();
  await cli(['server', 'account', '--data', data, '--account', 'acme', '--enable', 'onelink', '--signing-alg', 'ES256'], T0);
  beta.admin = (await cli(['server', 'init', '--data', data, '--account', 'beta', '--signing-alg', 'RS256'], T0)).trim();
  const gateway = JSON.parse(await cli(['--json', 'server', 'add-principal', '--data', data, '--account', 'acme', '--role', 'service', '--name', 'gateway'], T0));
  acme.clientId = gateway.principal.clientId;
  acme.secret = gateway.credential;
  acme.id = JSON.parse(await cli(['--json', 'server', 'account', '--data', data, '--account', 'acme'], T0)).account.id;
  beta.id = JSON.parse(await cli(['--json', 'server', 'account', '--data', data, '--account', 'beta'], T0)).account.id;
  acme.issuer = `${base}/accounts/${acme.id}`;
  beta.issuer = `${base}/accounts/${beta.id}`;

  await serveAt(T0);
  v.default = await reveal(acme.admin, 'default'); // EdDSA, active from the start
  v.beta = await reveal(beta.admin, 'default'); // RS256, another account's
  v.live = await create('s2s', 'live');
  v.drains = await create('onelink', 'drains');
  v.gone = await create('onelink', 'gone');
  v.es1 = await create('api', 'es1'); // ES256

  await serveAt(at(31));
  await remove('gone');
  await remove('es1');
  v.es2 = await create('api', 'es2');

  await serveAt(at(62));
  await remove('drains');
  await remove('default');
  v.later = await create('s2s', 'later');
  v.es3 = await create('api', 'es3');
  const [h, p, s] = v.es2!.split('.') as [string, string, string];
  v.tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), jti: 'tok_someoneelse' })).toString('base64url')}.${s}`;
  v.garbage = 'not-a-token';
}, 120_000);

afterAll(async () => {
  await stopServe();
  if (home) rmSync(home, { recursive: true, force: true });
});

/**
 * What introspection says of each value now: live (s2s) and es2 (ES256 API token) active; drains (OneLink) and default
 * (EdDSA API token) deleted a moment ago, draining; gone and es1 deleted 31 minutes ago, drained; later and es3
 * pending; beta's token is another account's; tampered (es2's claims changed) and garbage are not tokens of ours.
 */
const INTROSPECTED: Record<string, 'active' | 'draining' | 'inactive'> = {
  live: 'active',
  es2: 'active',
  drains: 'draining',
  default: 'draining',
  gone: 'inactive',
  es1: 'inactive',
  later: 'inactive',
  es3: 'inactive',
  beta: 'inactive',
  tampered: 'inactive',
  garbage: 'inactive',
};
const NAMES = Object.keys(INTROSPECTED);
/**
 * What offline verification against acme's JWKS says of its API-token-shaped values: authentic, and active by nbf. It
 * cannot know of deletions: es1, drained, verifies; default (deleted, draining) too. es3 is pending (nbf); beta's token
 * is signed by a key not in acme's set; tampered fails its signature.
 */
const OFFLINE: Record<string, boolean> = { es2: true, default: true, es1: true, es3: false, beta: false, tampered: false, garbage: false };
const OFFLINE_NAMES = Object.keys(OFFLINE);

function expectIntrospected(name: string, answer: Record<string, unknown>): void {
  const state = INTROSPECTED[name]!;
  if (state === 'inactive') expect(answer, name).toEqual({ active: false });
  else expect(answer, name).toMatchObject({ active: true, status: state, sub: acme.id, client_id: acme.id, iss: acme.issuer });
}

describe('resource servers with the documented configurations, against tokenctl serve', { timeout: 120_000 }, () => {
  it('the drill made every state: the service itself says so', async () => {
    for (const name of NAMES) {
      const r = await fetch(`${base}/v1/introspect`, { method: 'POST', headers: { authorization: `Bearer ${acme.secret}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: v[name]! }) });
      expectIntrospected(name, (await r.json()) as Record<string, unknown>);
    }
    // API tokens made while the service knew its public URL name the account's issuer URL.
    for (const name of ['es2', 'default']) expect(JSON.parse(Buffer.from(v[name]!.split('.')[1]!, 'base64url').toString()).iss).toBe(acme.issuer);
  });

  it('serve refuses a public URL resource servers could not be told to trust (exit 2, one line, before it listens)', async () => {
    for (const [url, message] of [
      ['http://tokens.example.com', /--public-url must be https:\/\/ for tokens\.example\.com/],
      ['https://tokens.example.com/tokenctl', /origin only/],
    ] as const) {
      const r = await runBin(['serve', '--data', data, '--port', '0', '--public-url', url], { env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const fromEnv = await runBin(['serve', '--data', data, '--port', '0'], { env: { ...env, TOKENCTL_PUBLIC_URL: 'ftp://x' } });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/^error: TOKENCTL_PUBLIC_URL must be an https:\/\/ URL/);
  });

  it.skipIf(skipWithout('openidClient'))('openid-client 6: discovery from the issuer, introspection with client_secret_post and client_secret_basic, and its errors', async () => {
    requireClient('openidClient');
    const script = recipe('openid-client.mjs');
    for (const auth of ['client_secret_post', 'client_secret_basic']) {
      const clientEnv = { TOKENCTL_ISSUER: acme.issuer, TOKENCTL_CLIENT_ID: acme.clientId, TOKENCTL_CLIENT_SECRET: acme.secret, TOKENCTL_CLIENT_AUTH: auth };
      const answers = await runScript(process.execPath, [script], clientEnv, NAMES.map((n) => v[n]!));
      NAMES.forEach((name, i) => expectIntrospected(name, answers[i]));
      // A wrong secret: what the library surfaces (the body's error without a challenge; the challenge of Basic).
      const [wrong] = await runScript(process.execPath, [script], { ...clientEnv, TOKENCTL_CLIENT_SECRET: 'tctl_key_wrong' }, [v.live!]);
      if (auth === 'client_secret_post') expect(wrong).toEqual({ thrown: 'ResponseBodyError', error: 'invalid_client', status: 401 });
      else expect(wrong).toEqual({ thrown: 'WWWAuthenticateChallengeError', status: 401, scheme: 'basic' });
    }
  });

  it.skipIf(skipWithout('authlib'))('Authlib (OAuth2Session): metadata, introspection with client_secret_basic and client_secret_post, and the cache headers', async () => {
    requireClient('authlib');
    for (const auth of ['client_secret_basic', 'client_secret_post']) {
      const clientEnv = { TOKENCTL_ISSUER: acme.issuer, TOKENCTL_CLIENT_ID: acme.clientId, TOKENCTL_CLIENT_SECRET: acme.secret, TOKENCTL_CLIENT_AUTH: auth };
      const answers = await runScript(PYTHON, [recipe('authlib_introspect.py')], clientEnv, NAMES.map((n) => v[n]!));
      NAMES.forEach((name, i) => {
        expect(answers[i].status, name).toBe(200);
        expectIntrospected(name, answers[i].body);
        expect(answers[i].cache, name).toMatch(INTROSPECTED[name] === 'inactive' ? /^no-store$/ : /^private, max-age=\d+$/);
      });
      const [wrong] = await runScript(PYTHON, [recipe('authlib_introspect.py')], { ...clientEnv, TOKENCTL_CLIENT_SECRET: 'tctl_key_wrong' }, [v.live!]);
      expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    }
  });

  it.skipIf(skipWithout('jose'))("jose, offline against the account's JWKS: authentic and active by nbf, never deleted", async () => {
    requireClient('jose');
    const answers = await runScript(process.execPath, [recipe('jose-verify.mjs')], { TOKENCTL_ISSUER: acme.issuer }, OFFLINE_NAMES.map((n) => v[n]!));
    OFFLINE_NAMES.forEach((name, i) => expect(answers[i].valid, name).toBe(OFFLINE[name]));
    expect(answers[OFFLINE_NAMES.indexOf('es2')]).toEqual({ valid: true, sub: acme.id, jti: expect.stringMatching(/^tok_/) });
    // beta's RS256 token against beta's own keys.
    expect(await runScript(process.execPath, [recipe('jose-verify.mjs')], { TOKENCTL_ISSUER: beta.issuer }, [v.beta!, v.es2!])).toMatchObject([{ valid: true }, { valid: false }]);
  });

  it.skipIf(skipWithout('pyjwt'))("PyJWT, offline against the account's JWKS: ES256 and RS256 (and EdDSA) keys; authentic and active by nbf, never deleted", async () => {
    requireClient('pyjwt');
    const answers = await runScript(PYTHON, [recipe('pyjwt_verify.py')], { TOKENCTL_ISSUER: acme.issuer }, OFFLINE_NAMES.map((n) => v[n]!));
    OFFLINE_NAMES.forEach((name, i) => expect(answers[i].valid, `${name}: ${JSON.stringify(answers[i])}`).toBe(OFFLINE[name]));
    expect(answers[OFFLINE_NAMES.indexOf('es3')].error).toBe('ImmatureSignatureError'); // pending: nbf
    expect(await runScript(PYTHON, [recipe('pyjwt_verify.py')], { TOKENCTL_ISSUER: beta.issuer }, [v.beta!, v.es2!])).toMatchObject([{ valid: true }, { valid: false }]);
  });

  describe('Apache httpd with mod_oauth2', () => {
    const source = () => readFileSync(recipe('apache-mod-oauth2.conf'), 'utf8');
    const values = (account: { id: string }) =>
      [
        ['https://tokens.example.com', base],
        ['acc_EXAMPLE', account.id],
        ['prn_EXAMPLE', acme.clientId],
        ['tctl_key_EXAMPLE', acme.secret],
      ] as [string, string][];
    let apache: WebServer | null = null;
    afterAll(async () => apache?.stop());

    it.skipIf(skipWithout('modOauth2'))('introspect (client_secret_basic) and jwks_uri with an ES256 key, as documented', async () => {
      requireClient('modOauth2');
      apache = await startApache(rendered(source(), values(acme)), ['/api/', '/offline/']);
      try {
        for (const name of NAMES) {
          const r = await apache.get('/api/echo.sh', v[name]!);
          expect(r.status, `${name}: ${r.body}\n${apache.errorLog().slice(-2000)}`).toBe(INTROSPECTED[name] === 'inactive' ? 401 : 200);
          if (r.status === 200) expect(r.body).toContain(`sub=${acme.id}`);
        }
        // Offline: what the service's ES256 key signed verifies; EdDSA is beyond its cjose; other accounts' keys are not
        // in acme's JWKS. It checks neither nbf nor deletion: the pending es3 and the drained es1 are let in (README).
        const offline: Record<string, number> = { es2: 200, es1: 200, es3: 200, default: 401, beta: 401, tampered: 401, garbage: 401 };
        for (const [name, status] of Object.entries(offline)) {
          const r = await apache.get('/offline/echo.sh', v[name]!);
          expect(r.status, `${name}: ${r.body}\n${apache.errorLog().slice(-2000)}`).toBe(status);
        }
      } finally {
        await apache.stop();
      }
    });

    it.skipIf(skipWithout('modOauth2'))('introspect with client_secret_post, jwks_uri with an RS256 key, and a wrong secret refused', async () => {
      requireClient('modOauth2');
      const post = rendered(source(), [...values(beta), ['introspect.auth=client_secret_basic', 'introspect.auth=client_secret_post']]);
      apache = await startApache(post, ['/api/', '/offline/']);
      try {
        expect((await apache.get('/api/echo.sh', v.live!)).status).toBe(200);
        expect((await apache.get('/api/echo.sh', v.gone!)).status).toBe(401);
        expect((await apache.get('/offline/echo.sh', v.beta!)).status).toBe(200);
        expect((await apache.get('/offline/echo.sh', v.es2!)).status).toBe(401);
      } finally {
        await apache.stop();
      }
      const wrong = rendered(source(), [...values(acme).slice(0, 3), ['tctl_key_EXAMPLE', 'tctl_key_wrong']]);
      apache = await startApache(wrong, ['/api/', '/offline/']);
      try {
        // An active token refused: the service answered invalid_client, which mod_oauth2 takes as a failure.
        expect((await apache.get('/api/echo.sh', v.live!)).status).toBe(401);
      } finally {
        await apache.stop();
      }
    });
  });

  describe('nginx with njs (NGINX example, fixed script)', () => {
    const conf = (secretValue: string, clientIdValue: string) => (at: { prefix: string; listen: string; backend: string }) =>
      rendered(readFileSync(recipe('nginx-introspection.conf'), 'utf8'), [
        ['/etc/nginx/njs/tokenctl-oauth2.js', path.join(at.prefix, 'tokenctl-oauth2.js')],
        ['/var/cache/nginx/tokenctl', path.join(at.prefix, 'cache')],
        ['listen 443 ssl;', `listen ${at.listen};`],
        ['https://tokens.example.com', base],
        ['"prn_EXAMPLE"', `"${clientIdValue}"`],
        ['tctl_key_EXAMPLE', secretValue],
        ['127.0.0.1:8080', at.backend],
      ]);
    const script = () => ({ 'tokenctl-oauth2.js': readFileSync(recipe('tokenctl-oauth2.js'), 'utf8') });

    it.skipIf(skipWithout('njs'))('introspects with client_secret_basic (and with the credential as a bearer token); 403 for an inactive token, 401 when introspection fails', async () => {
      requireClient('njs');
      let nginx = await startNginxNjs(conf(acme.secret, acme.clientId), script());
      try {
        for (const name of NAMES) {
          const r = await nginx.get('/orders', v[name]!);
          expect(r.status, `${name}: ${r.body}\n${nginx.errorLog().slice(-2000)}`).toBe(INTROSPECTED[name] === 'inactive' ? 403 : 200);
          if (r.status === 200) expect(r.body).toBe(`account=${acme.id}\n`);
        }
      } finally {
        await nginx.stop();
      }
      nginx = await startNginxNjs(conf(acme.secret, ''), script());
      try {
        expect((await nginx.get('/orders', v.live!)).status).toBe(200);
        expect((await nginx.get('/orders', v.gone!)).status).toBe(403);
      } finally {
        await nginx.stop();
      }
      // A wrong secret is an error (401, the reason in the error log), not an inactive token (403).
      nginx = await startNginxNjs(conf('tctl_key_wrong', acme.clientId), script());
      try {
        expect((await nginx.get('/orders', v.live!)).status).toBe(401);
        expect(nginx.errorLog()).toMatch(/HTTP 401\)\. \{"error":"invalid_client"/);
      } finally {
        await nginx.stop();
      }
    });
  });
});
