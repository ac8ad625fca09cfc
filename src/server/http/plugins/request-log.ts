import type { FastifyReply, FastifyRequest } from 'fastify';
import { shared } from './shared.js';

/** One line per request, with only what is safe to log (fastify's own request logging is off). */
export interface RequestLine {
  method: string;
  route: string | null;
  status: number;
  ms: number;
  principal: string | null;
}

/** Request lines are written at info level: with a log stream and a level of info or below. */
export function logsRequests(options: { logStream?: unknown; logLevel?: string }): boolean {
  return Boolean(options.logStream) && ['trace', 'debug', 'info'].includes(options.logLevel ?? 'info');
}

export const requestLog = shared<{ enabled: boolean }>('request-log', async (app, { enabled }) => {
  if (!enabled) return;
  // Callback-style (no promise per request): introspection is a hot path.
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const line: RequestLine = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      principal: request.principal?.id ?? null,
    };
    request.log.info(line, 'request');
    done();
  });
});

/**
 * Where the service's log lines go (the serve command's batched writer, ui/log-writer.ts): pino writes strings; the
 * introspection door writes bytes straight into the batch.
 */
export interface LogSink {
  write(line: string): void;
  /** Room for a line of at most `max` bytes: afterwards `batch` has that much free from `used`. */
  reserve(max: number): void;
  readonly batch: Buffer;
  readonly used: number;
  /** The line written after `reserve` ends at `end`. */
  commit(end: number): void;
}

/** Writes the introspection door's request line: its status, its milliseconds, the principal that called (null: none). */
export type IntrospectionLog = (status: number, ms: number, principal: string | null) => void;

const ascii = (text: string) => Buffer.from(text, 'latin1');

/** `v` (a non-negative integer) in decimal at `at`; returns where it ends. */
function putInteger(buf: Buffer, at: number, v: number): number {
  let digits = 1;
  for (let m = v; m >= 10; m = Math.floor(m / 10)) digits++;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    const q = Math.floor(v / 10);
    buf[i] = 48 + v - q * 10;
    v = q;
  }
  return end;
}

function put(buf: Buffer, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buf[at + i] = bytes[i]!;
  return at + bytes.length;
}

/**
 * Request lines written without pino, for the introspection door (introspection/handler.ts): the same JSON fields
 * as the API's lines (pino's level, time, pid, hostname, reqId and msg around the request's own), written as bytes
 * straight into the log's batch: no string and no garbage per line (resource servers call introspection on every
 * API call they serve, and a line per call is the contract). `ms` is written as the API's lines have it.
 */
export function requestLineWriter(sink: LogSink): IntrospectionLog {
  const os = process.getBuiltinModule('node:os') as typeof import('node:os');
  const start = ascii('{"level":30,"time":');
  const head = Buffer.from(`,"pid":${process.pid},"hostname":${JSON.stringify(os.hostname())},"reqId":"introspect-`, 'utf8');
  const route = ascii('","method":"POST","route":"/v1/introspect","status":');
  const ms = ascii(',"ms":');
  const principalKey = ascii(',"principal":');
  const end = ascii(',"msg":"request"}\n');
  const none = ascii('null');
  /** Principal ids as JSON strings, encoded once (a service has few). */
  const principals = new Map<string, Buffer>();
  const principalBytes = (id: string | null): Buffer => {
    if (id === null) return none;
    let bytes = principals.get(id);
    if (bytes === undefined) {
      if (principals.size >= 1_000) principals.clear();
      bytes = Buffer.from(JSON.stringify(id), 'utf8');
      principals.set(id, bytes);
    }
    return bytes;
  };
  // Everything but the principal: the fixed parts, then at most 16 digits of time, of the count and of the
  // milliseconds' integer part, 3 of status, 3 for the decimals.
  const fixed = start.length + head.length + route.length + ms.length + principalKey.length + end.length + 16 * 3 + 3 + 3;
  let n = 0;
  return (status, elapsed, principal) => {
    const who = principalBytes(principal);
    sink.reserve(fixed + who.length);
    const buf = sink.batch;
    let at = put(buf, sink.used, start);
    at = putInteger(buf, at, Date.now());
    at = put(buf, at, head);
    at = putInteger(buf, at, ++n);
    at = put(buf, at, route);
    at = putInteger(buf, at, status);
    at = put(buf, at, ms);
    const hundredths = Math.min(Math.round(elapsed * 100), 1e15);
    const whole = Math.floor(hundredths / 100);
    const cents = hundredths - whole * 100;
    // As JSON writes Math.round(ms * 100) / 100 (the API's lines): no trailing zero, no point for a whole number.
    at = putInteger(buf, at, whole);
    if (cents !== 0) {
      buf[at++] = 46; // '.'
      buf[at++] = 48 + Math.floor(cents / 10);
      if (cents % 10 !== 0) buf[at++] = 48 + (cents % 10);
    }
    at = put(buf, at, principalKey);
    at = put(buf, at, who);
    at = put(buf, at, end);
    sink.commit(at);
  };
}
