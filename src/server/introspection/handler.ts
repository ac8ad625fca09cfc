import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type { ErrorKind } from '../../core/errors.js';
import { INTROSPECTORS } from '../../core/roles.js';
import type { Principal } from '../../tokens/principals.js';
import { Authenticator, type AuthAnswer, type AuthRefusal } from '../auth/authenticator.js';
import { SECURITY_HEADERS } from '../http/plugins/security-headers.js';
import { INTROSPECT_HINT_MAX as HINT_MAX, INTROSPECT_TOKEN_MAX as TOKEN_MAX } from '../http/schemas.js';

/**
 * POST /v1/introspect (RFC 7662): the only door of introspection, a plain node:http handler in front of fastify.
 * Resource servers call it on every API call they receive, so it costs what the HTTP request itself costs and little
 * more: no fastify pipeline, no hooks, no promise per request, the credential and the answer found in memory, the
 * request log line written in a batch. Every answer of the route is its own (no fastify route stands behind it to
 * be kept equal): success, the refusals of the authentication door (401, 403, 429), a content type other than a form
 * or JSON (415), a body over the limit (413), a body that is not one `token` (400), a service shutting down (503).
 */
export interface IntrospectionHandlerOptions {
  authenticator: Authenticator;
  bodyLimit: number;
  /** The client's address, as fastify's `request.ip` has it (under --trust-proxy, from X-Forwarded-For as given). */
  clientAddress(req: IncomingMessage, forwardedFor: string | undefined): string | undefined;
  closing(): boolean;
  /** Answers one well-formed request (and records the token's use, by this principal from this address): the response body, serialized. */
  introspect(token: string, principal: Principal, address: string): string;
  /** An unexpected failure: logged by the caller; the client gets the service's 500. */
  failed(error: unknown): void;
  /** Writes the request log line (null: request logging is off). */
  logRequest: ((line: IntrospectionLogLine) => void) | null;
}

export interface IntrospectionLogLine {
  status: number;
  ms: number;
  principal: string | null;
}

export const INTROSPECTION_PATH = '/v1/introspect';
/** The introspection route's URL, with or without a query string. */
export const isIntrospectionUrl = (url: string): boolean => url === INTROSPECTION_PATH || url.startsWith(`${INTROSPECTION_PATH}?`);

const FORM = 'application/x-www-form-urlencoded';
/** What fetch() sends with a URLSearchParams body; a form is decoded as UTF-8 anyway. */
const FORM_UTF8 = /^application\/x-www-form-urlencoded\s*;\s*charset=(?:utf-8|"utf-8")$/i;
const JSON_TYPE = /^application\/json\s*(;.*)?$/i;
/** The body nearly every client sends, with nothing to decode; anything else goes through node:querystring. */
const PLAIN_TOKEN = /^token=([^&%+]*)$/;
const INTERNAL = '{"error":{"kind":"internal","message":"the token service failed to handle this request; its operator can find why in its logs"}}';

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

const errorJson = (kind: ErrorKind, message: string) => JSON.stringify({ error: { kind, message } });

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
    if (name.length === 13 && h.authorization === undefined && name.toLowerCase() === 'authorization') h.authorization = raw[i + 1];
    else if (name.length === 12 && h.contentType === undefined && name.toLowerCase() === 'content-type') h.contentType = raw[i + 1];
    else if (name.length === 14 && h.contentLength === undefined && name.toLowerCase() === 'content-length') h.contentLength = raw[i + 1];
    else if (name.length === 15 && name.toLowerCase() === 'x-forwarded-for') h.forwardedFor = h.forwardedFor === undefined ? raw[i + 1] : `${h.forwardedFor}, ${raw[i + 1]}`;
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
}

const EXCHANGE = Symbol('tokenctl.introspection');
type DoorRequest = IncomingMessage & { [EXCHANGE]?: Exchange };
const ignore = () => undefined;

/** The handler: answers POST /v1/introspect and returns true; returns false (touching nothing) for anything else. */
export function introspectionHandler(o: IntrospectionHandlerOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const [h0, v0, h1, v1, h2, v2] = SECURITY_HEADERS;
  const send = (res: ServerResponse, status: number, json: string, started: number, principal: Principal | null, extra?: readonly string[]) => {
    // The headers of every answer of the service (plugins/security-headers.ts) and of its JSON answers. Written out,
    // not spread: this runs on every introspection.
    const headers = [h0, v0, h1, v1, h2, v2, 'content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(json))];
    if (extra !== undefined) headers.push(...extra);
    res.writeHead(status, headers);
    res.end(json);
    if (o.logRequest !== null) o.logRequest({ status, ms: Math.round((performance.now() - started) * 100) / 100, principal: principal?.id ?? null });
  };

  const refuse = (res: ServerResponse, refusal: AuthRefusal, started: number) => {
    const extra: string[] = [];
    if (refusal.status === 401) extra.push('www-authenticate', 'Bearer realm="tokenctl"');
    if (refusal.retryAfterSeconds !== undefined) extra.push('retry-after', String(refusal.retryAfterSeconds));
    send(res, refusal.status, errorJson(refusal.kind, refusal.message), started, refusal.principal ?? null, extra);
  };

  const tooLarge = (x: Exchange) => send(x.res, 413, errorJson('usage', `request body is larger than ${o.bodyLimit} bytes`), x.started, x.principal, ['connection', 'close']);

  /** The body as read, answered: the one `token` of a form or JSON object, or the error of its shape. */
  const answer = (x: Exchange, text: string) => {
    let status = 200;
    let body: string;
    try {
      let fields: Record<string, unknown>;
      if (x.json) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return send(x.res, 400, errorJson('usage', 'request body is not valid JSON'), x.started, x.principal);
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return send(x.res, 400, errorJson('usage', 'invalid request: body must be object'), x.started, x.principal);
        fields = parsed as Record<string, unknown>;
      } else {
        const plain = PLAIN_TOKEN.exec(text);
        fields = plain ? { token: plain[1] } : { ...parseQueryString(text) };
      }
      const invalid = bodyError(fields);
      if (invalid !== null) {
        status = 400;
        body = errorJson('usage', invalid);
      } else {
        body = o.introspect(fields.token as string, x.principal!, x.address);
      }
    } catch (error) {
      o.failed(error);
      status = 500;
      body = INTERNAL;
    }
    send(x.res, status, body, x.started, x.principal);
  };

  // The body's listeners, made once: what one request needs travels on the request itself (no closures per request).
  function onData(this: DoorRequest, chunk: Buffer): void {
    const x = this[EXCHANGE]!;
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
  }
  function onEnd(this: DoorRequest): void {
    const x = this[EXCHANGE]!;
    if (x.over) return;
    answer(x, x.more ? Buffer.concat(x.more).toString('utf8') : x.first ? x.first.toString('utf8') : '');
  }

  /** After the authentication door: the content type, the declared length, then the body. */
  const proceed = (x: Exchange, outcome: AuthAnswer) => {
    const { req } = x;
    if (!outcome.ok) {
      req.resume();
      return refuse(x.res, outcome.refusal, x.started);
    }
    x.principal = outcome.principal;
    const type = x.headers.contentType;
    const form = type === FORM || (type !== undefined && FORM_UTF8.test(type));
    if (!form && !(type !== undefined && JSON_TYPE.test(type))) {
      req.resume();
      return send(x.res, 415, errorJson('usage', 'unsupported content type; send application/x-www-form-urlencoded (RFC 7662) or application/json'), x.started, x.principal);
    }
    x.json = !form;
    const declared = x.headers.contentLength;
    if (declared !== undefined && Number(declared) > o.bodyLimit) {
      req.resume();
      return tooLarge(x);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    // A client gone mid-body: nothing to answer; node:http closes the socket.
    req.on('error', ignore);
  };

  return (req: DoorRequest, res) => {
    const url = req.url;
    if (url === undefined || req.method !== 'POST' || !isIntrospectionUrl(url)) return false;
    // Read only for the request log: a clock read costs a tenth of a microsecond.
    const started = o.logRequest !== null ? performance.now() : 0;
    if (o.closing()) {
      req.resume();
      send(res, 503, errorJson('unavailable', 'the token service is shutting down; retry (another replica answers)'), started, null, ['retry-after', '1', 'connection', 'close']);
      return true;
    }
    const headers = doorHeaders(req.rawHeaders);
    const address = o.clientAddress(req, headers.forwardedFor) ?? '';
    const x: Exchange = { req, res, headers, started, principal: null, address, json: false, first: null, more: null, size: 0, over: false };
    req[EXCHANGE] = x;
    let outcome: AuthAnswer | Promise<AuthAnswer>;
    try {
      outcome = o.authenticator.check(Authenticator.bearer(headers.authorization), address, INTROSPECTORS);
    } catch (error) {
      // The credential could not be looked up (a storage fault): the service's 500, and it goes on.
      o.failed(error);
      req.resume();
      send(res, 500, INTERNAL, started, null);
      return true;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (settled) => proceed(x, settled),
        (error: unknown) => {
          o.failed(error);
          req.resume();
          send(res, 500, INTERNAL, started, null);
        },
      );
    } else proceed(x, outcome);
    return true;
  };
}
