import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { Role } from '../../core/roles.js';
import { SECURITY_HEADERS } from '../plugins/security-headers.js';
import { INTROSPECT_HINT_MAX as HINT_MAX, INTROSPECT_TOKEN_MAX as TOKEN_MAX } from '../schemas.js';
import type { IntrospectionLookup, Principal } from './lookup.js';

/**
 * POST /v1/introspect, answered straight from node:http for the one request shape resource servers send all day
 * long: a form body of known length, a valid credential of a principal allowed to introspect. On this 2-core
 * machine fastify's request pipeline alone costs 2-3 times what a bare node:http handler does, which caps
 * introspection far below the target of half a bare hello-world server (bench/introspect.mjs).
 *
 * Everything else is declined BEFORE a byte of the body is read, and fastify then handles the request exactly
 * as it always has: another method, path or query string, a JSON body, chunked or oversized bodies, a missing or
 * wrong credential (401, counted by the failed-authentication limiter), a blocked address (429), a role that may
 * not introspect (403), a server that is shutting down (503). Behind a trusted proxy (nginx, `--trust-proxy`) it
 * answers as well, with the client's address taken from X-Forwarded-For exactly as fastify takes it. Once the body is read, the answers, including the 400s of the route's schema, are the ones the fastify
 * route gives (introspection/index.ts): test/server/fast-introspect.test.ts sends the same requests to both and compares.
 */
export interface IntrospectionFastPathOptions {
  bodyLimit: number;
  /**
   * The client's address, as fastify's `request.ip` has it (the socket's, or under --trust-proxy the nearest
   * untrusted one in X-Forwarded-For): the failed-authentication limit counts the same client on both doors.
   */
  clientAddress(req: IncomingMessage): string | undefined;
  closing(): boolean;
  /** Seconds an address must wait after repeated failed authentications; 0 when it may go on. */
  retryAfterSeconds(address: string): number;
  /** Who a credential belongs to (the only thing asked of storage before the body is read). */
  lookup: Pick<IntrospectionLookup, 'authenticate'>;
  roles: readonly Role[];
  /** Answers one well-formed request (and records the token's use): the response body, serialized. */
  introspect(token: string, principal: Principal): string;
  /** An unexpected failure: logged by the caller; the client gets the same 500 as from any other route. */
  failed(error: unknown): void;
  /** The request log line (null when request logging is off). */
  logRequest: ((line: { method: string; route: string; status: number; ms: number; principal: string }) => void) | null;
}

const FORM = 'application/x-www-form-urlencoded';
/** What fetch() sends with a URLSearchParams body; fastify decodes every form body as UTF-8 anyway. */
const FORM_UTF8 = /^application\/x-www-form-urlencoded\s*;\s*charset=(?:utf-8|"utf-8")$/i;
const CREDENTIAL = /^Bearer ([\x21-\x7e]{1,256})$/i;
/** The body nearly every client sends, with nothing to decode; anything else goes through node:querystring. */
const PLAIN_TOKEN = /^token=([^&%+]*)$/;
const INTERNAL = '{"error":{"kind":"internal","message":"the token service failed to handle this request; its operator can find why in its logs"}}';

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/**
 * The first violation of the route's schema (schemas.ts, introspect.body: `token` required, both strings, lengths in
 * code points as ajv counts), worded as the fastify route's error handler words ajv's; null when valid.
 */
function schemaError(body: Record<string, string | string[] | undefined>): string | null {
  const { token, token_type_hint: hint } = body;
  if (token === undefined) return "invalid request: body must have required property 'token'";
  if (typeof token !== 'string') return 'invalid request: body/token must be string';
  if (token.length > TOKEN_MAX && codePoints(token) > TOKEN_MAX) return `invalid request: body/token must NOT have more than ${TOKEN_MAX} characters`;
  if (hint !== undefined) {
    if (typeof hint !== 'string') return 'invalid request: body/token_type_hint must be string';
    if (hint.length > HINT_MAX && codePoints(hint) > HINT_MAX) return `invalid request: body/token_type_hint must NOT have more than ${HINT_MAX} characters`;
  }
  return null;
}

/** Returns a handler that answers the request and returns true, or returns false having touched nothing. */
export function introspectionFastPath(o: IntrospectionFastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const send = (res: ServerResponse, status: number, json: string, started: number, principal: Principal) => {
    // The headers of every answer of the service (plugins/security-headers.ts) and of fastify's JSON replies.
    res.writeHead(status, [
      ...SECURITY_HEADERS,
      'content-type',
      'application/json; charset=utf-8',
      'content-length',
      String(Buffer.byteLength(json)),
    ]);
    res.end(json);
    if (o.logRequest) {
      o.logRequest({ method: 'POST', route: '/v1/introspect', status, ms: Math.round((performance.now() - started) * 100) / 100, principal: principal.id });
    }
  };

  const answer = (res: ServerResponse, text: string, principal: Principal, started: number) => {
    let status = 200;
    let json: string;
    try {
      const plain = PLAIN_TOKEN.exec(text);
      const body = plain ? { token: plain[1] } : { ...parseQueryString(text) };
      const invalid = schemaError(body);
      if (invalid !== null) {
        status = 400;
        json = JSON.stringify({ error: { kind: 'usage', message: invalid } });
      } else {
        json = o.introspect(body.token as string, principal);
      }
    } catch (error) {
      o.failed(error);
      status = 500;
      json = INTERNAL;
    }
    send(res, status, json, started, principal);
  };

  return (req, res) => {
    if (req.url !== '/v1/introspect' || req.method !== 'POST' || o.closing()) return false;
    const h = req.headers;
    const type = h['content-type'];
    if (type === undefined || (type !== FORM && !FORM_UTF8.test(type))) return false;
    const length = h['content-length'];
    if (length === undefined || h['transfer-encoding'] !== undefined || !/^\d{1,9}$/.test(length) || Number(length) > o.bodyLimit) return false;
    const address = o.clientAddress(req);
    if (address === undefined || o.retryAfterSeconds(address) > 0) return false;
    const authorization = h.authorization;
    const match = authorization === undefined ? null : CREDENTIAL.exec(authorization);
    let principal: Principal | null;
    try {
      principal = match ? o.lookup.authenticate(match[1]!) : null;
    } catch {
      // A database that fails: fastify's route meets the same failure and answers (and logs) its 500.
      return false;
    }
    if (!principal || !o.roles.includes(principal.role)) return false;

    const started = o.logRequest ? performance.now() : 0;
    let first: Buffer | null = null;
    let more: Buffer[] | null = null;
    req.on('data', (chunk: Buffer) => {
      if (first === null) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    req.on('end', () => {
      const text = more ? Buffer.concat(more).toString('utf8') : first ? first.toString('utf8') : '';
      answer(res, text, principal, started);
    });
    // A client gone mid-body: nothing to answer; node:http closes the socket.
    req.on('error', () => undefined);
    return true;
  };
}
