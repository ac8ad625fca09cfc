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

/** How many decimal digits `v` (a non-negative integer) has. */
function digitsOf(v: number): number {
  let digits = 1;
  if (v < 0x80000000) for (let m = v | 0; m >= 10; m = (m / 10) | 0) digits++;
  else for (let m = v; m >= 10; m = Math.floor(m / 10)) digits++;
  return digits;
}

/**
 * `v` (a non-negative integer) in decimal at `at`; returns where it ends. Below 2^31 in integer arithmetic, where a
 * division by 10 compiles to a multiplication; larger values (a clock's milliseconds, a count past two billion) in
 * floating point, whose divisions cost several times more.
 */
export function putInteger(buf: Buffer, at: number, v: number): number {
  if (v < 0x80000000) {
    let n = v | 0;
    const end = at + digitsOf(n);
    for (let i = end - 1; i >= at; i--) {
      const q = (n / 10) | 0;
      buf[i] = 48 + n - q * 10;
      n = q;
    }
    return end;
  }
  const end = at + digitsOf(v);
  for (let i = end - 1; i >= at; i--) {
    const q = Math.floor(v / 10);
    // The digit first: 48 + v could be past 2^53, where adding rounds.
    buf[i] = 48 + (v - q * 10);
    v = q;
  }
  return end;
}

/**
 * Request lines written without pino, for the introspection door (introspection/handler.ts): the same JSON fields
 * as the API's lines (pino's level, time, pid, hostname, reqId and msg around the request's own), written as bytes
 * straight into the log's batch: no string and no garbage per line (resource servers call introspection on every
 * API call they serve, and a line per call is the contract). `ms` is written as the API's lines have it.
 *
 * A line is three copies of bytes made beforehand and two numbers: the start up to the request's number (its time
 * rewritten when the clock's millisecond changes), the number, the route and status up to the milliseconds (one per
 * status), the milliseconds, and the principal to the end of the line (one per principal).
 */
export function requestLineWriter(sink: LogSink): IntrospectionLog {
  const os = process.getBuiltinModule('node:os') as typeof import('node:os');
  const start = ascii('{"level":30,"time":');
  const head = Buffer.from(`,"pid":${process.pid},"hostname":${JSON.stringify(os.hostname())},"reqId":"introspect-`, 'utf8');
  const statusPart = (status: number) => ascii(`","method":"POST","route":"/v1/introspect","status":${status},"ms":`);
  const tailPart = (principal: string) => Buffer.from(`,"principal":${principal},"msg":"request"}\n`, 'utf8');
  /** By status (an HTTP status is 100 to 599), made when first written. */
  const statuses: (Buffer | undefined)[] = new Array<Buffer | undefined>(600).fill(undefined);
  const anonymous = tailPart('null');
  /** By principal id (a service has few; at most 1,000 kept). */
  const tails = new Map<string, Buffer>();
  const tailOf = (id: string | null): Buffer => {
    if (id === null) return anonymous;
    let bytes = tails.get(id);
    if (bytes === undefined) {
      if (tails.size >= 1_000) tails.clear();
      bytes = tailPart(JSON.stringify(id));
      tails.set(id, bytes);
    }
    return bytes;
  };
  let prefixTime = -1;
  let prefix = Buffer.alloc(0);
  // The longest line but for its tail (the principal to the end): the fixed parts, at most 16 digits of time, of the
  // count and of the milliseconds' integer part, 3 for the decimals.
  const fixed = start.length + 16 + head.length + 16 + statusPart(599).length + 16 + 3;
  let n = 0;
  return (status, elapsed, principal) => {
    const tail = tailOf(principal);
    sink.reserve(fixed + tail.length);
    const t = Date.now();
    if (t !== prefixTime) {
      // The time's digits rewritten in place (made anew only if their count changes: not before the year 2286).
      const length = start.length + digitsOf(t) + head.length;
      if (prefix.length !== length) {
        prefix = Buffer.allocUnsafe(length);
        put(prefix, 0, start);
        put(prefix, length - head.length, head);
      }
      putInteger(prefix, start.length, t);
      prefixTime = t;
    }
    const buf = sink.batch;
    let at = put(buf, sink.used, prefix);
    at = putInteger(buf, at, ++n);
    at = put(buf, at, statuses[status] ?? (statuses[status] = statusPart(status)));
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
    at = put(buf, at, tail);
    sink.commit(at);
  };
}

/** `bytes` copied into `buf` at `at`; returns where they end. */
function put(buf: Buffer, at: number, bytes: Uint8Array): number {
  buf.set(bytes, at);
  return at + bytes.length;
}
