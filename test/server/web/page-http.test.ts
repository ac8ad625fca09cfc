// The Tokens page over plain HTTP (no browser): sign-in and roles, sessions, CSRF and Origin, headers, escaping,
// values never in a page, the limiter shared with the API. The browser tests (tokens-page.browser.test.ts) do the
// flow as an admin would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_CSP } from '../../../src/server/web/routes.js';
import { PAGE_SCRIPT, PAGE_STYLE } from '../../../src/server/web/assets.js';
import { escapeHtml, html } from '../../../src/server/web/html.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';
import { listedName, PageClient, signedIn, tokenIdIn } from './helpers.js';

let server: TestServer;
let admin: string;
beforeAll(async () => {
  server = await startTestServer();
  admin = (await server.initAccount()).credential;
});
afterAll(async () => server?.close());

const auditActions = async () => (await server.accounts.tokens({ id: 'x', accountId: (await server.storage.accountByName('acme'))!.id, name: 'test', role: 'admin' }).auditEvents()).map((e) => e.action);

describe('the template helper', () => {
  it('escapes every interpolated value, in text and attributes, and keeps its own markup', () => {
    const name = `<img src=x onerror=alert(1)>"'&`;
    expect(html`<p title="${name}">${name}</p>`.text).toBe('<p title="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;">&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</p>');
    expect(html`<ul>${['a', '<b>'].map((x) => html`<li>${x}</li>`)}</ul>`.text).toBe('<ul><li>a</li><li>&lt;b&gt;</li></ul>');
    expect(html`${null}${undefined}${false}${0}`.text).toBe('0');
    expect(escapeHtml('"')).toBe('&quot;');
  });
});

describe('signing in', () => {
  it('shows the sign-in form with the page headers, and sets only the sign-in CSRF cookie', async () => {
    const r = await new PageClient(server.url).get('/');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<label for="credential">Admin credential</label>');
    expect(r.text).toContain('type="password"');
    expect(r.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    const cookies = r.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^__Host-tokenctl-sign-in=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    // No inline script or style: the CSP allows neither.
    expect(r.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(r.text).not.toMatch(/<style|\sstyle=/);
  });

  it('lets an admin in with a new session cookie (__Host-, HttpOnly, Secure, SameSite=Strict, Path=/)', async () => {
    const client = new PageClient(server.url);
    await client.get('/');
    const r = await client.post('/sign-in', { credential: admin }, { follow: false });
    expect(r.status).toBe(303);
    const session = r.headers.getSetCookie().find((c) => c.startsWith('__Host-tokenctl-session='))!;
    expect(session).toMatch(/^__Host-tokenctl-session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const page = await client.get('/');
    expect(page.text).toContain('<h1>Tokens</h1>');
    expect(page.text).toContain(listedName('default'));
  });

  it('stores only a hash of the session id, and gives a new id at each sign-in (a planted or earlier one is dropped)', async () => {
    const planted = 'A'.repeat(43);
    const client = new PageClient(server.url);
    client.setCookie('__Host-tokenctl-session', planted);
    await client.signIn(admin);
    const first = client.cookie('__Host-tokenctl-session')!;
    expect(first).not.toBe(planted);
    const db = (server.storage as unknown as { db: { prepare(s: string): { all(): { id_hash: Buffer }[] } } }).db;
    const stored = db.prepare('SELECT id_hash FROM web_sessions').all().map((r) => r.id_hash);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.some((h) => h.includes(Buffer.from(first)))).toBe(false);
    // Signing in again from the same browser replaces the session: the earlier id stops working.
    const other = new PageClient(server.url);
    await other.get('/');
    other.setCookie('__Host-tokenctl-session', first);
    await other.post('/sign-in', { credential: admin });
    const second = other.cookie('__Host-tokenctl-session')!;
    expect(second).not.toBe(first);
    expect((await client.get('/')).text).toContain('Admin credential');
    expect((await other.get('/')).text).toContain('<h1>Tokens</h1>');
  });

  it('answers a user or partner with the no-access page (403, no token data), and refuses a service credential', async () => {
    for (const role of ['user', 'partner', 'service'] as const) {
      const credential = await server.addPrincipal('acme', role, `${role}-1`);
      const client = new PageClient(server.url);
      const r = await client.signIn(credential);
      expect(r.status, role).toBe(403);
      expect(r.text).toContain('Only admins can view and manage tokens.');
      expect(r.text).not.toContain('default');
      expect(r.headers.getSetCookie().some((c) => c.startsWith('__Host-tokenctl-session='))).toBe(false);
    }
  });

  it('counts failed sign-ins against the API limiter: blocked addresses get 429 on the page and the API alike', async () => {
    const limited = await startTestServer({ authLimit: { maxFailures: 3, windowMs: 60_000, blockMs: 60_000 } });
    try {
      const { credential } = await limited.initAccount();
      const client = new PageClient(limited.url);
      await client.get('/');
      expect((await client.post('/sign-in', { credential: 'tctl_key_wrong' })).status).toBe(401);
      expect((await call(limited, 'GET', '/v1/tokens', { credential: 'wrong' })).status).toBe(401);
      expect((await client.post('/sign-in', { credential: 'nope' })).status).toBe(401);
      const blocked = await client.post('/sign-in', { credential });
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await call(limited, 'GET', '/v1/tokens', { credential })).status).toBe(429);
    } finally {
      await limited.close();
    }
  });

  it('refuses a sign-in without its CSRF token or from another origin', async () => {
    const client = new PageClient(server.url);
    await client.get('/');
    expect((await client.post('/sign-in', { credential: admin }, { csrf: null })).status).toBe(403);
    expect((await client.post('/sign-in', { credential: admin }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await client.post('/sign-in', { credential: admin }, { origin: null })).status).toBe(403);
    // A form post under Referrer-Policy: no-referrer says `Origin: null`: only with the browser's same-origin mark.
    expect((await client.post('/sign-in', { credential: admin }, { origin: 'null' })).status).toBe(403);
    expect((await client.post('/sign-in', { credential: admin }, { origin: 'null', fetchSite: 'same-site' })).status).toBe(403);
    expect((await client.post('/sign-in', { credential: admin }, { origin: 'null', fetchSite: 'same-origin' })).status).toBe(200);
  });
});

describe('sessions', () => {
  it('end after 30 minutes idle and 12 hours in all, and at Sign out', async () => {
    const client = await signedIn(server, admin);
    server.clock.advance(29 * 60_000);
    expect((await client.get('/')).text).toContain('<h1>Tokens</h1>');
    server.clock.advance(29 * 60_000);
    expect((await client.get('/')).text).toContain('<h1>Tokens</h1>');
    server.clock.advance(31 * 60_000);
    const idle = await client.get('/');
    expect(idle.text).toContain('Admin credential');
    expect(idle.text).toContain('30 minutes without activity');

    const again = await signedIn(server, admin);
    for (let i = 0; i < 25; i++) {
      server.clock.advance(29 * 60_000);
      const r = await again.get('/');
      if (!r.text.includes('<h1>Tokens</h1>')) {
        expect(r.text).toContain('after 12 hours');
        expect(i).toBe(24);
      }
    }

    const third = await signedIn(server, admin);
    const out = await third.post('/sign-out', {});
    expect(out.text).toContain('You are signed out.');
    expect((await third.get('/')).text).toContain('Admin credential');
  });
});

describe('state-changing requests', () => {
  it('change nothing without the CSRF token, with a wrong one, from another origin, or without a session', async () => {
    const client = await signedIn(server, admin);
    const page = await client.get('/');
    const id = tokenIdIn(page.text, 'default');
    const attempts: [string, Record<string, string>][] = [
      ['/tokens', { name: 'forged', type: 's2s' }],
      [`/tokens/${id}/rename`, { name: 'forged' }],
      [`/tokens/${id}/delete`, { confirmation: 'Delete token' }],
      [`/tokens/${id}/copy`, {}],
      ['/rotations', { ref: id }],
    ];
    for (const [path, fields] of attempts) {
      expect((await client.post(path, fields, { csrf: null })).status, path).toBe(403);
      expect((await client.post(path, fields, { csrf: 'x'.repeat(43) })).status, path).toBe(403);
      expect((await client.post(path, fields, { origin: 'http://evil.example' })).status, path).toBe(403);
      expect((await client.post(path, fields, { origin: null })).status, path).toBe(403);
      expect((await client.post(path, fields, { origin: 'null', fetchSite: 'cross-site' })).status, path).toBe(403);
      const anonymous = new PageClient(server.url);
      expect((await anonymous.post(path, fields, { csrf: client.csrf })).status, path).toBe(401);
    }
    const after = await client.get('/');
    expect(after.text).toContain(listedName('default'));
    expect(after.text).not.toContain('forged');
    expect(await auditActions()).not.toContain('token.reveal');
  });

  it('deletes nothing without the exact phrase, whatever the page sent', async () => {
    const client = await signedIn(server, admin);
    const id = tokenIdIn((await client.get('/')).text, 'default');
    for (const confirmation of ['', 'delete token', 'Delete token ', 'yes']) {
      const r = await client.post(`/tokens/${id}/delete`, { confirmation });
      expect(r.status).toBe(400);
      expect(r.text).toContain('exact confirmation phrase');
    }
    expect((await client.get('/')).text).toContain(listedName('default'));
  });
});

describe('values', () => {
  it('never appear in a page; copy answers JSON to a POST and records a retrieval', async () => {
    const client = await signedIn(server, admin);
    const created = await client.post('/tokens', { name: 'ci-s2s', type: 's2s' }, { json: true });
    expect(created.status).toBe(201);
    const body = JSON.parse(created.text) as { value: string; pendingUntil: string; token: { id: string; status: string } };
    expect(body.value).toMatch(/^[a-z0-9_]+/);
    expect(body.token.status).toBe('pending');
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.headers.get('referrer-policy')).toBe('no-referrer');
    const page = await client.get('/?deleted=1');
    expect(page.text).not.toContain(body.value);
    expect(page.text).toContain('active in 30 min');
    const copy = await client.post(`/tokens/${body.token.id}/copy`, {}, { json: true });
    expect(JSON.parse(copy.text).value).toBe(body.value);
    expect(copy.headers.get('cache-control')).toBe('no-store');
    expect(await auditActions()).toContain('token.reveal');
    for (const line of server.logs) expect(line).not.toContain(body.value);
    const activity = await client.get('/activity');
    expect(activity.text).not.toContain(body.value);
    expect(activity.text).toContain('value retrieved');
    await client.post(`/tokens/${body.token.id}/delete`, { confirmation: 'Delete token' });
  });

  it('escapes stored names: a name with markup renders as text', async () => {
    const client = await signedIn(server, admin);
    const name = '<img src=x onerror=alert(1)>';
    const created = await client.post('/tokens', { name, type: 'onelink' }, { json: true });
    if (created.status === 201) {
      const page = await client.get('/');
      expect(page.text).not.toContain(name);
      expect(page.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
      const id = tokenIdIn(page.text, escapeHtml(name));
      await client.post(`/tokens/${id}/delete`, { confirmation: 'Delete token' });
    } else {
      // The name rules refused it: that is the other acceptable answer, with a message and no stack.
      expect(created.status).toBe(400);
      expect(JSON.parse(created.text).error.message).not.toMatch(/at .*\.ts/);
    }
  });
});

describe('the routes', () => {
  it('are not part of the API table that api/openapi.yaml is checked against', () => {
    const api = server.app.apiRoutes.map((r) => r.url);
    for (const url of ['/', '/sign-in', '/tokens', '/activity', PAGE_SCRIPT.path]) expect(api).not.toContain(url);
    expect(api).toContain('/v1/tokens');
  });

  it('serve the script and stylesheet (compacted), together with the page of six tokens under 50 KB', async () => {
    const own = await startTestServer();
    try {
      const { credential } = await own.initAccount();
      const tokens = own.accounts.tokens((await own.principalOf(credential))!);
      for (const [type, name] of [['api', 'ci-deploy'], ['s2s', 'events'], ['onelink', 'campaign-links'], ['onelink', 'partner-links'], ['s2s', 'events-2026']] as const) await tokens.create({ type, name });
      const client = await signedIn(own, credential);
      const page = await client.get('/');
      expect(page.text.match(/<tr id="row-/g)).toHaveLength(6);
      const js = await fetch(own.url + PAGE_SCRIPT.path);
      const css = await fetch(own.url + PAGE_STYLE.path);
      expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(css.headers.get('content-type')).toMatch(/^text\/css/);
      const script = await js.text();
      // Compacted: no comment lines, no indentation; still the same program.
      expect(script).not.toMatch(/^\s*\/\//m);
      expect(script).not.toMatch(/^[ \t]+/m);
      expect(() => new Function(script)).not.toThrow();
      const total = Buffer.byteLength(page.text) + Buffer.byteLength(script) + (await css.arrayBuffer()).byteLength;
      expect(total).toBeLessThan(50 * 1024);
    } finally {
      await own.close();
    }
  });
});

describe('without JavaScript: every form works as a plain form', () => {
  let own: TestServer;
  let client: PageClient;
  let defaultId: string;
  beforeAll(async () => {
    own = await startTestServer();
    const { credential } = await own.initAccount();
    client = await signedIn(own, credential);
    defaultId = tokenIdIn((await client.get('/')).text, 'default');
  });
  afterAll(async () => own?.close());

  const dialog = (html: string, id: string) => {
    const m = new RegExp(`<dialog id="${id}"[^>]*>`).exec(html);
    return m ? m[0] : null;
  };

  it('opens + New token, a rename and a delete as pages (GET), the forms already open', async () => {
    const create = await client.get('/?new=1');
    expect(dialog(create.text, 'create-dialog')).toMatch(/ open/);
    expect(create.text).toContain('<form method="post" action="/tokens"');
    const rename = await client.get(`/?rename=${defaultId}`);
    expect(dialog(rename.text, 'rename-dialog')).toMatch(/ open/);
    expect(rename.text).toContain(`action="/tokens/${defaultId}/rename"`);
    expect(rename.text).toMatch(/id="rename-input" name="name" type="text" value="default"/);
    const del = await client.get(`/?delete=${defaultId}`);
    expect(dialog(del.text, 'delete-dialog')).toMatch(/ open/);
    expect(del.text).toContain(`action="/tokens/${defaultId}/delete"`);
    expect(del.text).toContain('<h2 id="delete-h">Delete <span data-slot="name">default</span>?</h2>');
    expect(del.text).toContain('<strong data-slot="warning">This is the last active API token: systems that depend on it will fail once it is rejected.</strong>');
    // The Delete token button is not disabled in the HTML: only the script gates it (the service checks the phrase).
    expect(del.text).toContain('<button type="submit" id="delete-button" class="danger primary">');
    // Nothing is open otherwise, and a made-up id opens nothing.
    const plain = await client.get('/?rename=tok_doesnotexist');
    expect(plain.text).not.toMatch(/<dialog [^>]* open/);
    // No inline script or style anywhere, the dialogs and icons included.
    for (const page of [create, rename, del, plain]) {
      expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
      expect(page.text).not.toMatch(/<style|\sstyle=/);
    }
  });

  it('Cancel changes nothing: back to the list (303)', async () => {
    for (const [path, fields] of [
      ['/tokens', { name: 'never-made', type: 's2s', cancel: '1' }],
      [`/tokens/${defaultId}/rename`, { name: 'never-renamed', cancel: '1' }],
      [`/tokens/${defaultId}/delete`, { confirmation: 'Delete token', cancel: '1' }],
    ] as const) {
      const r = await client.post(path, fields, { follow: false });
      expect(r.status, path).toBe(303);
      expect(r.headers.get('location'), path).toBe('/');
    }
    const page = await client.get('/');
    expect(page.text).toContain(listedName('default'));
    expect(page.text).not.toMatch(/never-made|never-renamed/);
  });

  it('a refused rename: 409, its dialog open with the typed name kept and the refusal at the field', async () => {
    await client.post('/tokens', { name: 'events', type: 's2s' });
    const eventsId = tokenIdIn((await client.get('/')).text, 'events');
    const r = await client.post(`/tokens/${eventsId}/rename`, { name: 'DEFAULT' });
    expect(r.status).toBe(409);
    expect(dialog(r.text, 'rename-dialog')).toMatch(/ open/);
    expect(r.text).toMatch(/id="rename-input" name="name" type="text" value="DEFAULT"[^>]* aria-invalid="true"/);
    expect(r.text).toContain(`<p class="field-error" id="rename-error" data-error-for="name">&#39;DEFAULT&#39; is taken: names ignore case, and a token named &#39;default&#39; already exists; choose another name.</p>`);
    // A name refused by the rules: the same place.
    const empty = await client.post(`/tokens/${eventsId}/rename`, { name: '   ' });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('Token name is empty; give a name of 1 to 64 characters.');
  });

  it('a refused create: at the name for a taken name, at the type for a full type, in the page words (no command)', async () => {
    const taken = await client.post('/tokens', { name: 'Events', type: 'api' });
    expect(taken.status).toBe(409);
    expect(dialog(taken.text, 'create-dialog')).toMatch(/ open/);
    expect(taken.text).toMatch(/id="create-name" name="name"[^>]* value="Events"[^>]* aria-invalid="true"/);
    expect(taken.text).toMatch(/<p class="field-error" id="create-name-error" data-error-for="name">&#39;Events&#39; is taken/);
    await client.post('/tokens', { name: 'events-2', type: 's2s' });
    const full = await client.post('/tokens', { name: 'events-3', type: 's2s' });
    expect(full.status).toBe(409);
    expect(full.text).toContain(
      '<p class="field-error" id="create-type-error" data-error-for="type">S2S token: it already has 2 live tokens (&#39;events&#39; and &#39;events-2&#39;); delete one of them first, or replace one.</p>',
    );
    expect(full.text).toMatch(/id="create-name" name="name"[^>]* value="events-3"/);
    expect(full.text).not.toMatch(/tokenctl (delete|rotate)/);
    // The script's request: the same refusal as JSON, naming the field.
    const json = await client.post('/tokens', { name: 'events-3', type: 's2s' }, { json: true });
    expect(JSON.parse(json.text)).toEqual({ error: { kind: 'conflict', message: "S2S token: it already has 2 live tokens ('events' and 'events-2'); delete one of them first, or replace one.", field: 'type' } });
  });

  it('Replace only where it can work; a forged one on a full type is refused beside its row, in words', async () => {
    const page = await client.get('/');
    const eventsId = tokenIdIn(page.text, 'events');
    // The S2S type is full: no Replace on its rows; the API type has room: Replace on default.
    expect(page.text).not.toContain(`aria-label="Replace events"`);
    expect(page.text).toContain(`aria-label="Replace default"`);
    const r = await client.post('/rotations', { ref: eventsId });
    expect(r.status).toBe(409);
    expect(r.text).toContain(
      `<span class="bubble sticky error" id="feedback-${eventsId}" role="status">Cannot replace &#39;events&#39; now: its type has no free slot: if &#39;events-2&#39;, pending until 2026-03-01 10:30 UTC, in 30 min, replaces it, put &#39;events-2&#39; in place, then delete &#39;events&#39;; if not, delete &#39;events-2&#39; first (once nothing uses it), then replace &#39;events&#39;.</span>`,
    );
    expect(r.text).not.toMatch(/tokenctl (delete|rotate)/);
    const json = await client.post('/rotations', { ref: eventsId }, { json: true });
    expect(json.status).toBe(409);
    expect(JSON.parse(json.text).error.message).toMatch(/^Cannot replace 'events' now: its type has no free slot/);
  });

  it("the script's requests get the changed list back as HTML, with the notice where the list starts", async () => {
    const page = await client.get('/');
    const id = tokenIdIn(page.text, 'events-2');
    const renamed = JSON.parse((await client.post(`/tokens/${id}/rename`, { name: 'events-next' }, { json: true })).text) as { notice: string; html: { region: string; create: string } };
    expect(renamed.notice).toBe('Renamed events-2 to events-next. Its value did not change.');
    expect(renamed.html.region).toContain(listedName('events-next'));
    expect(renamed.html.region).not.toContain('list-notice');
    const deleted = JSON.parse((await client.post(`/tokens/${id}/delete`, { confirmation: 'Delete token' }, { json: true })).text) as { notice: string; html: { region: string; create: string } };
    expect(deleted.notice).toBe('Deleted events-next. It was still pending, so it never becomes active.');
    expect(deleted.html.region).toContain('<p class="notice" id="list-notice" role="status" tabindex="-1">Deleted events-next. It was still pending, so it never becomes active.</p>');
    expect(deleted.html.region).not.toContain(listedName('events-next'));
    // With S2S free again, the create form offers it.
    expect(deleted.html.create).toMatch(/<option value="s2s" *>/);
  });
});

describe('page words', () => {
  it('make a sentence of a refusal and drop the commands the CLI adds', async () => {
    const { pageWords } = await import('../../../src/server/web/views.js');
    expect(pageWords("no token named or with id 'x'; see your tokens with: tokenctl list")).toBe("No token named or with id 'x'.");
    expect(pageWords("token 'ci' already has an unfinished rotation (rot_1); continue it with: tokenctl rotate ci --resume")).toBe("Token 'ci' already has an unfinished rotation (rot_1).");
    expect(pageWords('rotation rot_1 is already completed; it cannot be delivered now. See it with: tokenctl audit')).toBe('Rotation rot_1 is already completed; it cannot be delivered now.');
    expect(pageWords('a token named \'x\' already exists; choose another name (names ignore case)')).toBe("A token named 'x' already exists; choose another name (names ignore case).");
  });
});
