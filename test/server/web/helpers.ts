// Helpers for the Tokens page's tests: a browser-like client of the page over fetch (cookies, Origin, CSRF).
import type { TestServer } from '../../helpers/server.js';

export interface PageAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** A client that keeps the page's cookies, sends this service's Origin with POSTs and finds the page's CSRF token. */
export class PageClient {
  private cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly base: string) {}

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(r: Response): void {
    for (const line of r.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private remember(text: string): void {
    const m = /name="_csrf" value="([^"]+)"/.exec(text) ?? /name="csrf-token" content="([^"]+)"/.exec(text);
    if (m) this.csrf = m[1]!;
  }

  async get(path: string): Promise<PageAnswer> {
    const r = await fetch(this.base + path, { headers: { cookie: this.cookieHeader }, redirect: 'manual' });
    this.keep(r);
    const text = await r.text();
    this.remember(text);
    return { status: r.status, headers: r.headers, text };
  }

  async post(
    path: string,
    fields: Record<string, string>,
    opts: { origin?: string | null; fetchSite?: string; csrf?: string | null; json?: boolean; follow?: boolean } = {},
  ): Promise<PageAnswer> {
    const body = new URLSearchParams(fields);
    const csrf = opts.csrf === undefined ? this.csrf : opts.csrf;
    if (csrf !== null) body.set('_csrf', csrf);
    const headers: Record<string, string> = { cookie: this.cookieHeader, 'content-type': 'application/x-www-form-urlencoded' };
    const origin = opts.origin === undefined ? this.base : opts.origin;
    if (origin !== null) headers.origin = origin;
    if (opts.fetchSite) headers['sec-fetch-site'] = opts.fetchSite;
    if (opts.json) headers.accept = 'application/json';
    const r = await fetch(this.base + path, { method: 'POST', headers, body: body.toString(), redirect: 'manual' });
    this.keep(r);
    if (opts.follow !== false && r.status === 303) return this.get(r.headers.get('location')!);
    const text = await r.text();
    this.remember(text);
    return { status: r.status, headers: r.headers, text };
  }

  /** Opens the sign-in page and signs in with `credential`. */
  async signIn(credential: string): Promise<PageAnswer> {
    await this.get('/');
    return this.post('/sign-in', { credential });
  }
}

export async function signedIn(server: TestServer | { url: string }, credential: string): Promise<PageClient> {
  const client = new PageClient(server.url);
  const r = await client.signIn(credential);
  if (r.status !== 200 || !r.text.includes('<h1>Tokens</h1>')) throw new Error(`sign-in failed: ${r.status}`);
  return client;
}

/** The id of the live token named `name` (already escaped for HTML) in the page's HTML. */
export function tokenIdIn(html: string, name: string): string {
  const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`<tr id="row-(tok_[0-9A-Za-z]+)"[^>]*>\\s*<th scope="row" class="c-name"><span class="name" title="${quoted}">`).exec(html);
  if (!m) throw new Error(`no token ${name} on the page`);
  return m[1]!;
}

/** How the list shows a token's name (already escaped for HTML): in a row, with its whole name as the tooltip. */
export function listedName(escapedName: string): string {
  return `<span class="name" title="${escapedName}">${escapedName}</span>`;
}
