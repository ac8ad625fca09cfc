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
