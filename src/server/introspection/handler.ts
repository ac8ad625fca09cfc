import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parse as parseQueryString } from 'node:querystring';
import { INTROSPECTORS } from '../../core/roles.js';
import type { Principal } from '../../tokens/principals.js';
import { Authenticator, type AuthAnswer, type AuthRefusal, type Remembered } from '../auth/authenticator.js';
import { drainingCacheControl, type IntrospectionAnswer } from './introspector.js';
import type { IntrospectionLog } from '../http/plugins/request-log.js';
import { isHeader } from '../http/header-names.js';
import { SECURITY_HEADERS } from '../http/plugins/security-headers.js';
import { INTROSPECT_HINT_MAX as HINT_MAX, INTROSPECT_TOKEN_MAX as TOKEN_MAX } from '../http/schemas.js';

/**
 * POST /v1/introspect (RFC 7662): the only door of introspection, a plain node:http handler in front of fastify.
 * Resource servers call it on every API call they receive, so it costs what the HTTP request itself costs and little
 * more: no fastify pipeline, no hooks, no promise per request, the credential and the answer found in memory, the
 * request log line written in a batch. Every answer of the route is its own (no fastify route stands behind it to
 * be kept equal): success, the refusals of the authentication door (401, 429), a content type other than a form
 * or JSON (415), a body over the limit (413), a body that is not one `token` (400), a service shutting down (503).
 *
 * The caller authenticates as OAuth clients do (RFC 7662 section 2.1, RFC 6749 section 2.3): `client_secret_basic`
 * (Authorization: Basic, the principal's id and credential), `client_secret_post` (client_id and client_secret in the
 * form), or its credential as a bearer token. Refusals are in the shapes OAuth libraries parse (RFC 6749 section 5.2,
 * RFC 6750 section 3): `{"error":"invalid_client"|"invalid_token"|"invalid_request"|...,"error_description":...}`,
 * with the challenge of the scheme the client used.
 */
export interface IntrospectionHandlerOptions {
  authenticator: Authenticator;
  bodyLimit: number;
  /** The client's address, as fastify's `request.ip` has it (under --trust-proxy, from X-Forwarded-For as given). */
  clientAddress(req: IncomingMessage, forwardedFor: string | undefined): string | undefined;
  closing(): boolean;
  /** Answers one well-formed request (and records the token's use, by this principal from this address): the answer, its body serialized. */
  introspect(token: string, principal: Principal, address: string): IntrospectionAnswer;
  /** The service's time (epoch ms), for how long a draining token's answer may be kept. */
  nowMs(): number;
  /** An unexpected failure: logged by the caller; the client gets the service's 500. */
  failed(error: unknown): void;
  /** Writes the request log line (null: request logging is off). */
  logRequest: IntrospectionLog | null;
}

/** The global `performance`, read once: a global found by its getter on every request costs an inline cache miss. */
const perf = globalThis.performance;

export const INTROSPECTION_PATH = '/v1/introspect';
/** The introspection route's URL, with or without a query string. */
export const isIntrospectionUrl = (url: string): boolean => url === INTROSPECTION_PATH || url.startsWith(`${INTROSPECTION_PATH}?`);

const FORM = 'application/x-www-form-urlencoded';
/** What fetch() sends with a URLSearchParams body; a form is decoded as UTF-8 anyway. */
const FORM_UTF8 = /^application\/x-www-form-urlencoded\s*;\s*charset=(?:utf-8|"utf-8")$/i;
const JSON_TYPE = /^application\/json\s*(;.*)?$/i;
/** The body nearly every client sends, with nothing to decode; anything else goes through node:querystring. */
export const PLAIN_TOKEN = /^token=([^&%+]*)$/;

/** The bytes a plain value may have: printable ASCII but `%`, `&` and `+` (1), every other byte 0. */
const PLAIN_BYTE = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) PLAIN_BYTE[c] = c === 0x25 || c === 0x26 || c === 0x2b ? 0 : 1;

/**
 * The value of a body that is `token=` and a value in printable ASCII with nothing to decode (no `%`, `+` or `&`),
 * read from its bytes: what nearly every client sends, answered as PLAIN_TOKEN would, without decoding the body to a
 * string and matching it (a sequential string, which the lookups hash and compare faster than a regular expression's
 * capture); null for anything else, which goes the general way.
 */
export function plainTokenOf(body: Buffer): string | null {
  const n = body.length;
  if (n <= 6 || n > 6 + TOKEN_MAX) return null;
  // t o k e n =
  if (body[0] !== 0x74 || body[1] !== 0x6f || body[2] !== 0x6b || body[3] !== 0x65 || body[4] !== 0x6e || body[5] !== 0x3d) return null;
  for (let i = 6; i < n; i++) if (PLAIN_BYTE[body[i]!] === 0) return null;
  return body.toString('latin1', 6, n);
}

/** OAuth error codes this endpoint answers with (RFC 6749 section 5.2, RFC 6750 section 3.1). */
export type OAuthError = 'invalid_request' | 'invalid_client' | 'invalid_token' | 'insufficient_scope' | 'temporarily_unavailable' | 'server_error';

/** An OAuth error body: `{"error": <code>, "error_description": <words>}`. */
export const oauthErrorJson = (error: OAuthError, description: string) => JSON.stringify({ error, error_description: description });

const INTERNAL = oauthErrorJson('server_error', 'the token service failed to handle this request; its operator can find why in its logs');

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** How the caller authenticated: the scheme its refusal is worded in. */
const enum Scheme {
  /** Authorization: Bearer <credential> (and any header the door cannot read, worded as a bearer token). */
  Bearer,
  /** Authorization: Basic (client_secret_basic). */
  Basic,
  /** No Authorization header: client_secret_post, credentials in the form. */
  Post,
}

/** A value for a WWW-Authenticate parameter: a quoted-string with nothing that would need escaping. */
const quoted = (text: string) => `"${text.replace(/["\\\r\n]/g, ' ')}"`;

/** The challenge of a refusal (RFC 6750 section 3, RFC 6749 section 5.2): the scheme the client used, or every one it may use. */
function challenge(scheme: Scheme, refusal: AuthRefusal, presented: boolean, description: string): string | null {
  if (scheme === Scheme.Bearer) {
    const error = refusal.reason === 'role' ? 'insufficient_scope' : 'invalid_token';
    return `Bearer realm="tokenctl", error="${error}", error_description=${quoted(description)}`;
  }
  if (scheme === Scheme.Basic) return 'Basic realm="tokenctl", charset="UTF-8"';
  // Nothing presented at all: the schemes that work. A client that chose client_secret_post gets no challenge (as
  // node-oidc-provider answers it): the body says invalid_client, and no other scheme is suggested to it.
  return presented ? null : 'Basic realm="tokenctl", charset="UTF-8", Bearer realm="tokenctl"';
}

/** The OAuth error of a refusal in the client's scheme. */
function refusalError(scheme: Scheme, refusal: AuthRefusal): OAuthError {
  if (refusal.reason === 'blocked') return 'temporarily_unavailable';
  if (scheme !== Scheme.Bearer) return 'invalid_client';
  return refusal.reason === 'role' ? 'insufficient_scope' : 'invalid_token';
}

/** The first way the body is not one `token` (and an optional `token_type_hint`), worded as the API words schema errors. */
function bodyError(body: Record<string, unknown>): string | null {
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

/** The request headers the door reads, from the raw list (Node builds `req.headers` only when asked: it costs). */
interface DoorHeaders {
  authorization: string | undefined;
  contentType: string | undefined;
  contentLength: string | undefined;
  forwardedFor: string | undefined;
}

function doorHeaders(raw: readonly string[]): DoorHeaders {
  const h: DoorHeaders = { authorization: undefined, contentType: undefined, contentLength: undefined, forwardedFor: undefined };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // The first of each, as Node keeps for these.
    if (h.authorization === undefined && isHeader(name, 'authorization', 'Authorization')) h.authorization = raw[i + 1];
    else if (h.contentType === undefined && isHeader(name, 'content-type', 'Content-Type')) h.contentType = raw[i + 1];
    else if (h.contentLength === undefined && isHeader(name, 'content-length', 'Content-Length')) h.contentLength = raw[i + 1];
    else if (isHeader(name, 'x-forwarded-for', 'X-Forwarded-For')) h.forwardedFor = h.forwardedFor === undefined ? raw[i + 1] : `${h.forwardedFor}, ${raw[i + 1]}`;
  }
  return h;
}

/** One request at the door, from its headers to its answer. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  headers: DoorHeaders;
  started: number;
  principal: Principal | null;
  /** The client's address as the authentication door saw it ('' when unknown): where the token's use came from. */
  address: string;
  json: boolean;
  first: Buffer | null;
  more: Buffer[] | null;
  size: number;
  over: boolean;
  scheme: Scheme;
  /** client_secret_basic's client id, which a client_id of the form must equal. */
  basicClientId: string | null;
  /** The authentication door's generation when the request came, before any check: what a success is remembered at. */
  generation: number;
}

/**
 * What a connection last authenticated as at this door, kept per connection: a gateway sends the same Authorization
 * header on every call of its keep-alive connection, and that header again is answered by the authentication door
 * from this (`Authenticator.recall`: within seconds, before any change to principals, the address's block checked
 * every time) without finding the credential again. Only successes; only the Authorization header (Bearer, Basic).
 * Forgotten as soon as a request on the connection does not use it (another header, none, or no longer recalled), so
 * it holds at most the header the client keeps sending.
 */
interface ConnectionMemo {
  header: string;
  scheme: Scheme;
  basicClientId: string | null;
  remembered: Remembered;
}

/** The handler: answers POST /v1/introspect and returns true; returns false (touching nothing) for anything else. */
export function introspectionHandler(o: IntrospectionHandlerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  /** Per connection, gone with it (the keep-alive timeout closes an idle one within seconds). */
  const memos = new WeakMap<Socket, ConnectionMemo>();
  const [h0, v0, h1, v1, h2, v2] = SECURITY_HEADERS;
  const limitDigits = String(o.bodyLimit).length;
  const send = (
    res: ServerResponse,
    status: number,
    json: string,
    started: number,
    principal: Principal | null,
    extra?: readonly string[],
    cacheControl: string = v0,
    contentLength: string = String(Buffer.byteLength(json)),
  ) => {
    // The headers of every answer of the service (plugins/security-headers.ts) and of its JSON answers; an answer
    // that may be kept says for how long. Written out, not spread: this runs on every introspection.
    const headers = [h0, cacheControl, h1, v1, h2, v2, 'content-type', 'application/json; charset=utf-8', 'content-length', contentLength];
    if (extra !== undefined) headers.push(...extra);
    res.writeHead(status, headers);
    res.end(json);
    if (o.logRequest !== null) o.logRequest(status, perf.now() - started, principal?.id ?? null);
  };

  /**
   * A refusal of the authentication door, in the client's scheme: 401 with its challenge, or 429 with Retry-After.
   * `presented`: whether the client sent credentials at all (an Authorization header, or client_id/client_secret).
   */
  const refuse = (x: Exchange, refusal: AuthRefusal, presented: boolean) => {
    const extra: string[] = [];
    // RFC 7662 section 2.3: a caller that may not introspect is answered 401, as an invalid one is.
    const status = refusal.status === 403 ? 401 : refusal.status;
    const description =
      refusal.reason === 'role' || refusal.reason === 'blocked'
        ? refusal.message
        : presented
          ? 'client authentication failed: unknown, malformed or mismatched client credentials'
          : 'client authentication failed: no client credentials; use client_secret_basic, client_secret_post or Authorization: Bearer <credential>';
    if (status === 401) {
      const value = challenge(x.scheme, refusal, presented, description);
      if (value !== null) extra.push('www-authenticate', value);
    }
    if (refusal.retryAfterSeconds !== undefined) extra.push('retry-after', String(refusal.retryAfterSeconds));
    send(x.res, status, oauthErrorJson(refusalError(x.scheme, refusal), description), x.started, refusal.principal ?? null, extra);
  };

  const invalidRequest = (x: Exchange, status: number, description: string, extra?: readonly string[]) => send(x.res, status, oauthErrorJson('invalid_request', description), x.started, x.principal, extra);
  const tooLarge = (x: Exchange) => invalidRequest(x, 413, `request body is larger than ${o.bodyLimit} bytes`, ['connection', 'close']);

  /** The principal found: the answer to one `token`, or what is wrong with the fields. */
  const respond = (x: Exchange, fields: Record<string, unknown>) => {
    const invalid = bodyError(fields);
    if (invalid !== null) return invalidRequest(x, 400, invalid);
    let answer: IntrospectionAnswer;
    try {
      answer = o.introspect(fields.token as string, x.principal!, x.address);
    } catch (error) {
      o.failed(error);
      return send(x.res, 500, INTERNAL, x.started, x.principal);
    }
    const cacheControl = answer.cacheControl ?? drainingCacheControl(answer.rejectedAtMs!, o.nowMs());
    send(x.res, 200, answer.json, x.started, x.principal, undefined, cacheControl, answer.contentLength);
  };

  /** client_secret_post: the credentials of the form, through the authentication door, then the answer. */
  const authenticateForm = (x: Exchange, fields: Record<string, unknown>) => {
    const { client_id: clientId, client_secret: secret } = fields;
    const presented = secret !== undefined || clientId !== undefined;
    let outcome: AuthAnswer | Promise<AuthAnswer>;
    if (typeof clientId !== 'string' || typeof secret !== 'string') {
      // Missing, or given twice: not credentials the door reads.
      outcome = o.authenticator.check(null, x.address, INTROSPECTORS);
    } else {
      try {
        outcome = o.authenticator.check(secret, x.address, INTROSPECTORS, clientId);
      } catch (error) {
        o.failed(error);
        return send(x.res, 500, INTERNAL, x.started, null);
      }
    }
    const settle = (settled: AuthAnswer) => {
      if (!settled.ok) return refuse(x, settled.refusal, presented);
      x.principal = settled.principal;
      respond(x, fields);
    };
    if (outcome instanceof Promise) {
      outcome.then(settle, (error: unknown) => {
        o.failed(error);
        send(x.res, 500, INTERNAL, x.started, null);
      });
    } else settle(outcome);
  };

  /** The body as read, answered: the one `token` of a form or JSON object, or the error of its shape. */
  const answer = (x: Exchange, text: string) => {
    let fields: Record<string, unknown>;
    try {
      if (x.json) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return invalidRequest(x, 400, 'request body is not valid JSON');
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalidRequest(x, 400, 'invalid request: body must be object');
        fields = parsed as Record<string, unknown>;
      } else {
        const plain = PLAIN_TOKEN.exec(text);
        fields = plain ? { token: plain[1] } : { ...parseQueryString(text) };
      }
    } catch (error) {
      o.failed(error);
      return send(x.res, 500, INTERNAL, x.started, x.principal);
    }
    if (x.scheme === Scheme.Post) return authenticateForm(x, fields);
    // RFC 6749 section 2.3: one method per request; a form's client_id, when sent too, names the same client.
    if (fields.client_secret !== undefined) return invalidRequest(x, 400, 'client authentication must use one method: the Authorization header or client_secret in the form, not both');
    if (x.scheme === Scheme.Basic && fields.client_id !== undefined && fields.client_id !== x.basicClientId) return invalidRequest(x, 400, 'client_id in the form is not the client id of the Authorization header');
    respond(x, fields);
  };

  // The body's listeners, one closure each per request: cheaper than carrying the exchange on the request object (a
  // property added to Node's IncomingMessage changes its shape, on every request).
  const onData = (x: Exchange, chunk: Buffer): void => {
    if (x.over) return;
    x.size += chunk.length;
    if (x.size > o.bodyLimit) {
      x.over = true;
      x.first = x.more = null;
      tooLarge(x);
      return;
    }
    if (x.first === null) x.first = chunk;
    else (x.more ??= [x.first]).push(chunk);
  };
  const onEnd = (x: Exchange): void => {
    if (x.over) return;
    if (x.more === null && x.first !== null && !x.json && x.scheme !== Scheme.Post) {
      const token = plainTokenOf(x.first);
      if (token !== null) return respond(x, { token });
    }
    answer(x, x.more ? Buffer.concat(x.more).toString('utf8') : x.first ? x.first.toString('utf8') : '');
  };

  /** The content type, the declared length, then the body (read by the listeners above). */
  const readBody = (x: Exchange) => {
    const { req } = x;
    const type = x.headers.contentType;
    const form = type === FORM || (type !== undefined && FORM_UTF8.test(type));
    if (!form && !(type !== undefined && JSON_TYPE.test(type))) {
      req.resume();
      return invalidRequest(x, 415, 'unsupported content type; send application/x-www-form-urlencoded (RFC 7662) or application/json');
    }
    x.json = !form;
    const declared = x.headers.contentLength;
    // Only a length with as many digits as the limit can be over it (Node has checked that it is digits): the
    // conversion, a runtime call, is left for those.
    if (declared !== undefined && declared.length >= limitDigits && Number(declared) > o.bodyLimit) {
      req.resume();
      return tooLarge(x);
    }
    req.on('data', (chunk: Buffer) => onData(x, chunk));
    // A client gone mid-body: nothing to answer; node:http closes the socket, and emits no 'error' on a request that
    // has no listener for it.
    req.on('end', () => onEnd(x));
  };

  /**
   * After the authentication door (a credential in the Authorization header, or none at all): the body. `fresh`: the
   * door looked the credential up (not recalled from the connection's memo), so a success is remembered.
   */
  const proceed = (x: Exchange, outcome: AuthAnswer, fresh: boolean) => {
    if (!outcome.ok) {
      x.req.resume();
      return refuse(x, outcome.refusal, x.scheme !== Scheme.Post);
    }
    const header = x.headers.authorization;
    if (fresh && header !== undefined) {
      memos.set(x.req.socket, { header, scheme: x.scheme, basicClientId: x.basicClientId, remembered: o.authenticator.remember(outcome, x.generation) });
    }
    x.principal = outcome.principal;
    readBody(x);
  };

  return (req, res) => {
    const url = req.url;
    if (url === undefined || req.method !== 'POST' || !isIntrospectionUrl(url)) return false;
    // Read only for the request log: a clock read costs a tenth of a microsecond.
    const started = o.logRequest !== null ? perf.now() : 0;
    if (o.closing()) {
      req.resume();
      send(res, 503, oauthErrorJson('temporarily_unavailable', 'the token service is shutting down; retry (another replica answers)'), started, null, ['retry-after', '1', 'connection', 'close']);
      return true;
    }
    const headers = doorHeaders(req.rawHeaders);
    const authorization = headers.authorization;
    const x: Exchange = {
      req,
      res,
      headers,
      started,
      principal: null,
      json: false,
      first: null,
      more: null,
      size: 0,
      over: false,
      scheme: Scheme.Bearer,
      basicClientId: null,
      address: o.clientAddress(req, headers.forwardedFor) ?? '',
      generation: o.authenticator.generation,
    };
    // The same Authorization header as this connection's last success: the authentication door recalls it.
    const memo = memos.get(req.socket);
    if (memo !== undefined) {
      const again = memo.header === authorization ? o.authenticator.recall(memo.remembered, x.address, INTROSPECTORS) : null;
      if (again !== null) {
        x.scheme = memo.scheme;
        x.basicClientId = memo.basicClientId;
        proceed(x, again, false);
        return true;
      }
      memos.delete(req.socket);
    }
    // The bearer credential first, exactly as before: what resource servers send on every call costs nothing more.
    const bearer = Authenticator.bearer(authorization);
    let outcome: AuthAnswer | Promise<AuthAnswer>;
    try {
      if (bearer !== null) outcome = o.authenticator.check(bearer, x.address, INTROSPECTORS);
      else if (authorization === undefined) {
        // client_secret_post (or nothing): the credentials are in the form, so the body is read first. A body that
        // is not a form cannot carry them: refused as unauthenticated, before it is read, as before.
        x.scheme = Scheme.Post;
        const type = headers.contentType;
        if (type === FORM || (type !== undefined && FORM_UTF8.test(type))) {
          readBody(x);
          return true;
        }
        outcome = o.authenticator.check(null, x.address, INTROSPECTORS);
      } else if (Authenticator.isBasic(authorization)) {
        x.scheme = Scheme.Basic;
        const client = Authenticator.basic(authorization);
        x.basicClientId = client?.clientId ?? null;
        outcome = client === null ? o.authenticator.check(null, x.address, INTROSPECTORS) : o.authenticator.check(client.secret, x.address, INTROSPECTORS, client.clientId);
      } else outcome = o.authenticator.check(null, x.address, INTROSPECTORS);
    } catch (error) {
      // The credential could not be looked up (a storage fault): the service's 500, and it goes on.
      o.failed(error);
      req.resume();
      send(res, 500, INTERNAL, started, null);
      return true;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (settled) => proceed(x, settled, true),
        (error: unknown) => {
          o.failed(error);
          req.resume();
          send(res, 500, INTERNAL, started, null);
        },
      );
    } else proceed(x, outcome, true);
    return true;
  };
}
