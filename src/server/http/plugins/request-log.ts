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
 * Request lines written without pino, for the introspection door (introspection/handler.ts): the same JSON fields
 * as the API's lines (pino's level, time, pid, hostname, reqId and msg around the request's own), built by
 * concatenation, a fraction of a microsecond each. The stream batches them (server/service.ts).
 */
export function requestLineWriter(stream: { write(line: string): void }): (line: { status: number; ms: number; principal: string | null }) => void {
  const os = process.getBuiltinModule('node:os') as typeof import('node:os');
  const head = `,"pid":${process.pid},"hostname":${JSON.stringify(os.hostname())},"reqId":"introspect-`;
  let n = 0;
  return (line) =>
    stream.write(
      `{"level":30,"time":${Date.now()}${head}${++n}","method":"POST","route":"/v1/introspect","status":${line.status},"ms":${line.ms},"principal":${line.principal === null ? 'null' : `"${line.principal}"`},"msg":"request"}\n`,
    );
}
