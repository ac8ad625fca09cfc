import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StorageUnavailableError, TokenctlError, type ErrorKind } from '../../../core/errors.js';
import { sqliteErrorCode } from '../../../storage/sql/sqlite/errors.js';
import { redactTokenLike } from '../../../ui/sanitize.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { shared } from './shared.js';

/**
 * Every error answer of the service has the documented body `{"error":{"kind","message"}}`: errors of routes,
 * validation and body parsing (the error handler below), unknown routes, URLs fastify's router refuses
 * (`frameworkErrors`), and requests Node's HTTP parser refuses before fastify sees them (`clientErrorHandler`).
 * None echoes the request (path, body or headers): they may hold a value.
 */
export function errorBody(kind: ErrorKind, message: string) {
  return { error: { kind, message } };
}

/** The HTTP status of each kind of error: the service's counterpart of the CLI's exit-code table. */
export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  usage: 400,
  permission: 403,
  notFound: 404,
  conflict: 409,
  pending: 409,
  policy: 409,
  unavailable: 503,
  cancelled: 400,
  data: 503,
  internal: 500,
};

const INTERNAL_MESSAGE = 'the token service failed to handle this request; its operator can find why in its logs';
const STORAGE_MESSAGE = 'the token service cannot use its storage now; its operator can find why in its logs';

/** Values and credentials never reach a log line or an answer, even inside an error message that echoes input. */
export function redactSecrets(text: string): string {
  return redactTokenLike(text).replace(/tctl_key_[0-9A-Za-z]+/g, '[redacted]');
}

/** A storage fault as the client is told it (503) and the operator reads it (one log line). */
interface StorageFault {
  message: string;
  reason: string;
  retryAfterSeconds?: number;
}

/**
 * SQLite's own errors, should one escape the store untranslated: a busy or locked database, a full disk, an
 * unwritable or vanished file, a damaged database. By code only (either driver's: storage/sql/sqlite/errors.ts).
 */
const SQLITE_FAULTS: [RegExp, string, number | undefined][] = [
  [/^SQLITE_(BUSY|LOCKED)/, 'the database is locked by another process', 1],
  [/^SQLITE_FULL/, 'the disk is full', undefined],
  [/^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/, 'the database cannot be opened or written', undefined],
  [/^SQLITE_IOERR/, 'input/output error on the database file', undefined],
  [/^SQLITE_(CORRUPT|NOTADB)/, 'the database is damaged', undefined],
];

function storageFault(error: unknown): StorageFault | null {
  if (error instanceof StorageUnavailableError) {
    const message = redactSecrets(error.message);
    return { message, reason: message, retryAfterSeconds: error.retryAfterSeconds };
  }
  if (error instanceof TokenctlError) {
    if (error.kind === 'unavailable') {
      const message = redactSecrets(error.message);
      return { message, reason: message };
    }
    // Unreadable, corrupt or undecryptable data: the operator's problem, whose details (paths) stay in the log.
    if (error.kind === 'data') return { message: STORAGE_MESSAGE, reason: redactSecrets(error.message) };
    return null;
  }
  const code = sqliteErrorCode(error);
  if (code === undefined) return null;
  for (const [pattern, reason, retryAfterSeconds] of SQLITE_FAULTS) {
    if (pattern.test(code)) return { message: `the token service cannot use its storage now (${reason}); try again later`, reason: `${reason} (${code})`, retryAfterSeconds };
  }
  return null;
}

/** An error as the service answers it, on the API and the Tokens page alike; `log`: the operator's line, if any. */
export interface ErrorAnswer {
  status: number;
  kind: ErrorKind;
  message: string;
  retryAfterSeconds?: number;
  log: string | null;
}

/**
 * The one error classification of the service: a kind's status (STATUS_OF_KIND), storage faults as 503 with what
 * the client may know, internal errors as 500 with nothing of the server's, and fastify's own request errors
 * (validation, size, media type, a body that does not parse) worded without echoing what was sent. `requests`
 * names what the door's clients send, for the wording of a malformed one: JSON (the API) or a form (the page).
 */
export function classifyError(error: unknown, o: { bodyLimit: number; requests: 'json' | 'form' }): ErrorAnswer {
  const fault = storageFault(error);
  if (fault) return { status: 503, kind: 'unavailable', message: fault.message, retryAfterSeconds: fault.retryAfterSeconds, log: `storage unavailable: ${fault.reason}` };
  if (error instanceof TokenctlError) {
    if (error.kind === 'internal') return { status: 500, kind: 'internal', message: INTERNAL_MESSAGE, log: 'request failed' };
    return { status: STATUS_OF_KIND[error.kind], kind: error.kind, message: redactSecrets(error.message), log: null };
  }
  const fe = error as Partial<FastifyError>;
  if (fe.validation) {
    const first = fe.validation[0];
    const where = `${fe.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    return { status: 400, kind: 'usage', message: o.requests === 'form' ? 'the request was not a form this page sends' : `invalid request: ${where} ${first?.message ?? 'is invalid'}`, log: null };
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, kind: 'usage', message: o.requests === 'form' ? 'the form is too large' : `request body is larger than ${o.bodyLimit} bytes`, log: null };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { status: 415, kind: 'usage', message: o.requests === 'form' ? 'the request was not a form this page sends' : 'unsupported content type; send application/json', log: null };
  }
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
  if (status < 500) {
    // Parser errors can quote the body (and so a value): say what kind of problem it was, not what was sent.
    if (o.requests === 'form') return { status, kind: 'usage', message: 'the request was not a form this page sends', log: null };
    const message = error instanceof SyntaxError || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'request body is not valid JSON' : `bad request (${fe.code ?? status})`;
    return { status, kind: 'usage', message, log: null };
  }
  return { status: 500, kind: 'internal', message: INTERNAL_MESSAGE, log: 'request failed' };
}

/** Sends an error answer as the API's JSON body (with Retry-After when it has one), logging what the operator needs. */
export function sendErrorAnswer(request: FastifyRequest, reply: FastifyReply, error: unknown, answer: ErrorAnswer): FastifyReply {
  // One line that says what is wrong (the err serializer keeps no stack and redacts values).
  if (answer.log) request.log.error({ err: error }, answer.log);
  if (answer.retryAfterSeconds !== undefined) reply.header('retry-after', String(answer.retryAfterSeconds));
  return reply.code(answer.status).send(errorBody(answer.kind, answer.message));
}

export const errorMapping = shared<{ bodyLimit: number }>('errors', async (app, { bodyLimit }) => {
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody('notFound', 'no such route; see /openapi.yaml')));
  app.setErrorHandler((error: unknown, request, reply) => sendErrorAnswer(request, reply, error, classifyError(error, { bodyLimit, requests: 'json' })));
});

/**
 * fastify's `frameworkErrors` option: what its router refuses before any route or hook runs (a URL that is not
 * valid percent-encoding, a path parameter beyond maxParamLength). fastify's own answers quote the path.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const [status, kind, message]: [number, ErrorKind, string] =
    error.code === 'FST_ERR_BAD_URL'
      ? [400, 'usage', 'the request URL is not valid (malformed percent-encoding)']
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? [414, 'usage', 'the request URL is too long']
        : [500, 'internal', INTERNAL_MESSAGE];
  if (status === 500) request.log.error({ err: error }, 'request failed');
  reply.code(status).header(SECURITY_HEADERS[0], SECURITY_HEADERS[1]).header(SECURITY_HEADERS[2], SECURITY_HEADERS[3]).send(errorBody(kind, message));
}

/** A complete HTTP/1.1 answer with the error body, for a socket that fastify never got a request from. */
export function rawErrorResponse(status: number, kind: ErrorKind, message: string): string {
  const body = JSON.stringify(errorBody(kind, message));
  const headers = [];
  for (let i = 0; i < SECURITY_HEADERS.length; i += 2) headers.push(`${SECURITY_HEADERS[i]}: ${SECURITY_HEADERS[i + 1]}`);
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${headers.join('\r\n')}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

/** What Node's HTTP parser refuses, by error code: the status and what the client is told. */
function clientErrorAnswer(code: string | undefined): [number, string] {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'the request was not received in time'];
  if (code === 'HPE_HEADER_OVERFLOW') return [431, `request headers are larger than ${http.maxHeaderSize} bytes`];
  if (code === 'HPE_INVALID_METHOD') return [400, 'malformed HTTP request: unsupported method'];
  return [400, 'malformed HTTP request'];
}

/**
 * fastify's `clientErrorHandler` option (node:http's 'clientError' event): requests Node refuses before fastify
 * sees them, such as headers too large, a malformed request line or framing, and timeouts (slow or silent
 * clients). Answered on the socket, which is then closed. Nothing is written once an answer has started on the
 * connection, since that would corrupt it; nor to a client already gone.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] = clientErrorAnswer(error.code);
  // Client mistakes (and attacks) are not the operator's problem: below the default level, as fastify does.
  this.log.debug({ code: error.code, status }, 'client error');
  const answering = (socket as { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
  if (socket.writable && !answering?.headersSent) socket.write(rawErrorResponse(status, 'usage', message));
  socket.destroy();
}
