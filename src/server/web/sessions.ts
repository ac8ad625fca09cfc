import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../core/clock.js';
import type { SessionStorage } from '../../storage/service-port.js';
import type { Principal } from '../../tokens/principals.js';
import { shared } from '../http/plugins/shared.js';

/** What the Tokens page needs of the storage for its sessions (storage/service-port.ts). */
export type WebSessionStorage = SessionStorage;

const MINUTE = 60_000;

/** Sessions end after 30 minutes without a request and 12 hours in all (issue 13); last-seen is kept to the minute. */
export const SESSION_POLICY = { idleMs: 30 * MINUTE, absoluteMs: 12 * 60 * MINUTE, touchEveryMs: MINUTE } as const;

/**
 * `__Host-`: the browser accepts the cookie only with Secure, Path=/ and no Domain, so no other host (a sibling
 * subdomain) can set or shadow it. Secure cookies work on http://127.0.0.1 and localhost (potentially trustworthy
 * origins) and behind a TLS proxy.
 */
export const SESSION_COOKIE = '__Host-tokenctl-session';
/** The sign-in form's CSRF token, double-submitted (cookie and field) before any session exists. */
export const SIGN_IN_COOKIE = '__Host-tokenctl-sign-in';

export interface WebSession {
  principal: Principal;
  /** The CSRF token of this session's forms: derived from its id, so it needs no storage and no key. */
  csrf: string;
  idHash: Buffer;
}

export type SessionEnd = 'idle' | 'absolute' | 'signed-out' | null;

declare module 'fastify' {
  interface FastifyRequest {
    /** The Tokens page's signed-in session, or null. */
    webSession: WebSession | null;
    /** A session cookie came with the request but its session had ended (why), for the sign-in page to say so. */
    webSessionEnded: SessionEnd;
  }
  interface FastifyInstance {
    webSessions: {
      /** Starts a new session for an admin (a new id each time: rotated at sign-in), ending the one the request had. */
      start(request: FastifyRequest, reply: FastifyReply, principal: Principal): Promise<void>;
      end(request: FastifyRequest, reply: FastifyReply): Promise<void>;
      /** The sign-in form's CSRF token: the request's sign-in cookie, or a new one set on the reply. */
      signInToken(request: FastifyRequest, reply: FastifyReply): string;
      /** A state-changing request from the page itself: same-origin Origin and the right CSRF token. */
      isGenuine(request: FastifyRequest, presented: string, kind: 'session' | 'sign-in'): boolean;
    };
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();
const csrfOf = (id: string) => createHash('sha256').update(`tokenctl-web-csrf\0${id}`, 'utf8').digest('base64url');
const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

function cookieValue(request: FastifyRequest, name: string): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

const cookie = (name: string, value: string, maxAgeSeconds: number) => `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

function addCookie(reply: FastifyReply, value: string): void {
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
  reply.header('set-cookie', [...list, value]);
}

/**
 * A request the page itself sent: its Origin is this service's own (scheme, host and port). Under the page's
 * `Referrer-Policy: no-referrer` browsers send `Origin: null` with form posts (a fetch keeps the origin): then the
 * browser's own `Sec-Fetch-Site` (which no page can set) must say same-origin. Anything else is refused.
 */
export function isSameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin === `${request.protocol}://${request.host}`) return true;
  return origin === 'null' && request.headers['sec-fetch-site'] === 'same-origin';
}

/**
 * The Tokens page's sessions, for the routes of the scope that registers it (not the API's): reads the session
 * cookie on every request of the page, ends sessions past their idle or absolute limit, and keeps last-seen to the
 * minute. Stored in the service's storage, so they survive a restart and any replica can serve them.
 */
export const webSessions = shared<{ storage: WebSessionStorage; clock: Clock }>('web-sessions', async (app, { storage, clock }) => {
  app.decorateRequest('webSession', null);
  app.decorateRequest('webSessionEnded', null);

  app.addHook('onRequest', async (request, reply) => {
    const id = cookieValue(request, SESSION_COOKIE);
    if (id === null) return;
    if (!ID_SHAPE.test(id)) {
      addCookie(reply, cookie(SESSION_COOKIE, '', 0));
      return;
    }
    const idHash = sha256(id);
    const stored = await storage.webSession(idHash);
    const now = clock.now().getTime();
    const ended: SessionEnd = !stored
      ? 'signed-out'
      : now - Date.parse(stored.createdAt) >= SESSION_POLICY.absoluteMs
        ? 'absolute'
        : now - Date.parse(stored.lastSeenAt) >= SESSION_POLICY.idleMs
          ? 'idle'
          : null;
    // Only admins ever get a session; a principal whose role is no longer admin loses it.
    if (ended || stored!.principal.role !== 'admin') {
      if (stored) await storage.deleteWebSession(idHash);
      addCookie(reply, cookie(SESSION_COOKIE, '', 0));
      request.webSessionEnded = ended ?? 'signed-out';
      return;
    }
    const { createdAt: _, ...principal } = stored!.principal;
    if (now - Date.parse(stored!.lastSeenAt) >= SESSION_POLICY.touchEveryMs) await storage.touchWebSession(idHash, new Date(now).toISOString());
    request.webSession = { principal, csrf: csrfOf(id), idHash };
    // The request log names who acted (plugins/request-log.ts), as for the API.
    request.principal = principal;
  });

  app.decorate('webSessions', {
    async start(request: FastifyRequest, reply: FastifyReply, principal: Principal) {
      if (request.webSession) await storage.deleteWebSession(request.webSession.idHash);
      const now = clock.now();
      await storage.deleteExpiredWebSessions(new Date(now.getTime() - SESSION_POLICY.idleMs).toISOString(), new Date(now.getTime() - SESSION_POLICY.absoluteMs).toISOString());
      const id = randomBytes(32).toString('base64url');
      const at = now.toISOString();
      await storage.createWebSession({ idHash: sha256(id), principalId: principal.id, accountId: principal.accountId, createdAt: at, lastSeenAt: at });
      addCookie(reply, cookie(SESSION_COOKIE, id, SESSION_POLICY.absoluteMs / 1000));
      addCookie(reply, cookie(SIGN_IN_COOKIE, '', 0));
      request.webSession = { principal, csrf: csrfOf(id), idHash: sha256(id) };
    },
    async end(request: FastifyRequest, reply: FastifyReply) {
      if (request.webSession) await storage.deleteWebSession(request.webSession.idHash);
      request.webSession = null;
      addCookie(reply, cookie(SESSION_COOKIE, '', 0));
    },
    signInToken(request: FastifyRequest, reply: FastifyReply) {
      const existing = cookieValue(request, SIGN_IN_COOKIE);
      if (existing !== null && ID_SHAPE.test(existing)) return existing;
      const token = randomBytes(32).toString('base64url');
      addCookie(reply, cookie(SIGN_IN_COOKIE, token, 3600));
      return token;
    },
    isGenuine(request: FastifyRequest, presented: string, kind: 'session' | 'sign-in') {
      if (!isSameOrigin(request)) return false;
      const expected = kind === 'session' ? request.webSession?.csrf : cookieValue(request, SIGN_IN_COOKIE);
      return typeof expected === 'string' && equalText(presented, expected);
    },
  });
});
