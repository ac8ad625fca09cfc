import type http from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { Clock } from '../core/clock.js';
import type { ServiceStorage } from '../storage/service-port.js';
import { Accounts } from './accounts.js';
import { FailedAuthLimiter, type AuthLimiterOptions } from './auth/limiter.js';
import { Authenticator } from './auth/authenticator.js';
import { PrincipalCache } from './auth/principals.js';
import type { TokenIndex } from './memory/token-index.js';
import { createIntrospection, INTROSPECTION_PATH, isIntrospectionUrl } from './introspection/index.js';
import { requestLineWriter, type LogSink } from './http/plugins/request-log.js';
import { UsageRecorder } from './usage/recorder.js';
import { UsageReports } from './usage/usage.js';
import { createNotifications, type NotificationOptions, type Notifications } from './notify/index.js';
import { authentication } from './http/plugins/auth.js';
import { boundConnections } from './http/plugins/connections.js';
import { clientErrorHandler, errorMapping, frameworkErrors, redactSecrets } from './http/plugins/errors.js';
import { logsRequests, requestLog } from './http/plugins/request-log.js';
import { serializerCompiler, validatorCompiler } from './http/plugins/schema-compilers.js';
import { securityHeaders } from './http/plugins/security-headers.js';
import { serviceDecorations } from './http/plugins/decorations.js';
import { accountRoutes } from './http/routes/v1/account.js';
import { auditRoutes } from './http/routes/v1/audit.js';
import { rotationRoutes } from './http/routes/v1/rotations.js';
import { tokenRoutes } from './http/routes/v1/tokens.js';
import { usageRoutes } from './http/routes/v1/usage.js';
import { webhookRoutes } from './http/routes/v1/webhooks.js';
import { publicRoutes } from './http/routes/public.js';
import { oauthRoutes } from './http/routes/oauth.js';
import { tokensPageRoutes } from './web/routes.js';
import { auditEventSchema, errorSchema, oauthErrorSchema, rotationSchema, tokenUsageSchema, tokenViewSchema, webhookSchema } from './http/schemas.js';

/** What a client may hold of the service: README "Limits" states the defaults. */
export interface ServerLimits {
  /** Largest request body accepted, in bytes (413 beyond). */
  bodyLimit: number;
  /** Time allowed for a client to send the request headers, counted from the connection for its first request (slow or silent clients). */
  headersTimeoutMs: number;
  /** Time allowed for a client to send the whole request. */
  requestTimeoutMs: number;
  /** How often idle, slow or unread connections are checked against those limits. */
  connectionsCheckingIntervalMs: number;
  /** Idle socket timeout. */
  connectionTimeoutMs: number;
  /** How long a keep-alive connection may stay idle between requests. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; more are closed when accepted. */
  maxConnections: number;
  /** Requests unanswered at once on one connection (pipelining); one more closes the connection. */
  maxRequestsInFlightPerConnection: number;
  /** A connection whose client has not read its answers (writes blocked) for this long is closed. */
  unreadResponseTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  bodyLimit: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  connectionsCheckingIntervalMs: 1_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_024,
  maxRequestsInFlightPerConnection: 32,
  unreadResponseTimeoutMs: 10_000,
};

export const DEFAULT_AUTH_LIMIT: AuthLimiterOptions = { maxFailures: 10, windowMs: 60_000, blockMs: 60_000 };

export interface ServerAppOptions {
  /** The service's storage (SQLite or PostgreSQL). */
  storage: ServiceStorage;
  /** What the service keeps in memory, read from and kept current by `storage` (started by the caller). */
  memory: TokenIndex;
  clock: Clock;
  /** Where structured (JSON lines) logs go; none when absent. */
  logStream?: LogSink;
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  limits?: Partial<ServerLimits>;
  authLimit?: Partial<AuthLimiterOptions>;
  /** How often usage (last-used times, calls, callers) is written (0: only on flush and close). */
  usageFlushMs?: number;
  /** Notifications: how often deliveries and time-based events are looked for, the attempt's bound, allowed networks. */
  notify?: NotificationOptions;
  /**
   * Addresses (or CIDR ranges) of reverse proxies whose X-Forwarded-For is believed, so that failed-login limits
   * apply per client rather than to the proxy. None by default.
   */
  trustProxy?: string[];
  /**
   * The URL resource servers reach the service at (an origin, server/public-url.ts): accounts' issuers, their
   * metadata and the API tokens minted from now on are built on it. None: issuers are urns, metadata is built on
   * each request.
   */
  publicUrl?: string | null;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Test and shutdown hook: write pending usage (last-used times, calls, callers) now (a promise with an asynchronous storage). */
    flushUsage(): void | Promise<void>;
    /** The notifications: outbox, delivery, time-based events, endpoints (tests run them with runOnce). */
    notifications: Notifications;
    /** The failed-authentication limit, which another replica's block reaches through the database's notifications. */
    authLimiter: FailedAuthLimiter;
    /** Every route of the API (not the Tokens page's, which declare `config.page`), for the test that keeps api/openapi.yaml complete. */
    apiRoutes: { method: string; url: string }[];
  }
}

function logger(options: ServerAppOptions) {
  if (!options.logStream) return false;
  return {
    level: options.logLevel ?? 'info',
    stream: options.logStream,
    // Whitelists: no header (Authorization!), no body, no query string ever reaches a log line.
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, path: (req.url ?? '').split('?')[0] }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      // No stack either: frames are for --debug on a developer's machine, not for shipped logs.
      err: (err: FastifyError) => ({
        type: err.name,
        code: err.code,
        statusCode: err.statusCode,
        message: redactSecrets(String(err.message ?? '')).slice(0, 300),
        stack: '',
      }),
    },
    redact: { paths: ['req.headers', 'headers', 'authorization', 'token', 'value', 'credential', 'body'], censor: '[redacted]' },
  };
}

/** The token service: fastify with its plugins and route modules, and the introspection fast path in front. */
export async function buildServerApp(options: ServerAppOptions): Promise<FastifyInstance> {
  const { storage, memory, clock } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  // Failed authentications counted for every replica where the storage shares them (PostgreSQL); else per process.
  const limiter = new FailedAuthLimiter({ ...DEFAULT_AUTH_LIMIT, ...options.authLimit }, Date.now, storage.sharedAuthFailures);
  const trustProxy = options.trustProxy && options.trustProxy.length > 0 ? options.trustProxy : false;
  const app = Fastify({
    logger: logger(options),
    // One line per request, written by plugins/request-log.ts with only what is safe to log.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // requireHostHeader: checked by plugins/connections.ts, which answers with the error body (Node's 400 has none).
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: limits.connectionsCheckingIntervalMs, requireHostHeader: false },
    clientErrorHandler,
    frameworkErrors,
    routerOptions: { maxParamLength: 2048 },
    return503OnClosing: true,
    trustProxy,
  });
  // Schemas walked, not compiled to code (plugins/schema-compilers.ts says why).
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const notifications = createNotifications(storage, () => memory.indexedTokens(), clock, options.notify ?? {}, (error) =>
    app.log.error({ err: error }, 'notifications: a delivery or a time-based event could not be recorded; retried'),
  );
  const recorder = new UsageRecorder(
    storage,
    (error) => app.log.error({ err: error }, 'could not record usage (last-used times, calls); kept for the next try'),
    options.usageFlushMs ?? 5_000,
    notifications.outbox.drainingUse,
  );
  const usage = new UsageReports(storage, recorder, clock);
  const logRequests = logsRequests(options);
  const authenticator = new Authenticator(new PrincipalCache(memory), limiter);
  const publicUrl = options.publicUrl ?? null;
  const accounts = new Accounts(storage, memory, clock, publicUrl, notifications.outbox);
  const introspection = createIntrospection({
    lookup: memory,
    authenticator,
    clock,
    recorder,
    bodyLimit: limits.bodyLimit,
    trustProxy,
    failed: (error) => app.log.error({ err: error }, 'request failed'),
    logRequest: logRequests && options.logStream ? requestLineWriter(options.logStream) : null,
    publicUrl,
  });
  const connections = boundConnections(
    app.server,
    {
      maxConnections: limits.maxConnections,
      maxRequestsInFlight: limits.maxRequestsInFlightPerConnection,
      unreadResponseTimeoutMs: limits.unreadResponseTimeoutMs,
      checkEveryMs: limits.connectionsCheckingIntervalMs,
    },
    app.log,
  );

  const routes: { method: string; url: string }[] = [];
  app.decorate('apiRoutes', routes);
  app.addHook('onRoute', (r) => {
    if (r.config?.page === true) return;
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
  });
  // Introspection is not a fastify route: its one door is the handler in front of fastify (introspection/handler.ts).
  routes.push({ method: 'POST', url: INTROSPECTION_PATH });
  app.decorate('flushUsage', () => {
    const flushed = recorder.flush();
    // A draining use may have enqueued a notification.
    if (flushed instanceof Promise) return flushed.then(() => notifications.outbox.committed());
    notifications.outbox.committed();
  });
  app.decorate('notifications', notifications);
  app.decorate('authLimiter', limiter);
  for (const schema of [tokenViewSchema, errorSchema, rotationSchema, auditEventSchema, oauthErrorSchema, tokenUsageSchema, webhookSchema]) app.addSchema(schema);
  // The API takes JSON only (415 otherwise, as api/openapi.yaml says): not fastify's default text/plain. Form bodies
  // are parsed only where they belong, in the scopes of introspection (RFC 7662) and of the Tokens page's forms.
  app.removeContentTypeParser('text/plain');

  await app.register(serviceDecorations, { accounts, memory, storage, clock, recorder, usage, webhooks: notifications.webhooks });
  await app.register(securityHeaders);
  await app.register(requestLog, { enabled: logRequests });
  await app.register(errorMapping, { bodyLimit: limits.bodyLimit });
  await app.register(authentication, { authenticator });

  await app.register(publicRoutes);
  await app.register(oauthRoutes, { publicUrl });
  await app.register(accountRoutes, { prefix: '/v1' });
  await app.register(tokenRoutes, { prefix: '/v1' });
  await app.register(rotationRoutes, { prefix: '/v1' });
  await app.register(auditRoutes, { prefix: '/v1' });
  await app.register(usageRoutes, { prefix: '/v1' });
  await app.register(webhookRoutes, { prefix: '/v1' });
  // The Tokens page for browsers (issue 13): its own scope, sessions and headers; not part of the API.
  await app.register(tokensPageRoutes, { authenticator });

  app.addHook('onClose', async () => {
    introspection.stop();
    connections.stop();
    await recorder.stop();
    await notifications.stop();
  });

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const introspect = introspection.handler(() => closing);
  // In front of fastify's own request handler on the server fastify made (with its timeouts and limits). Not
  // through fastify's serverFactory: with one, fastify no longer listens on every address of a name such as
  // localhost (127.0.0.1 and ::1). The extra servers fastify makes for such names reach the same handler through
  // an onRequest hook (below), before fastify reads the body.
  const [fastifyHandler, ...others] = app.server.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  if (fastifyHandler && others.length === 0) {
    app.server.removeListener('request', fastifyHandler);
    app.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!connections.refuse(req, res) && !introspect(req, res)) fastifyHandler(req, res);
    });
  }
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'POST' || !isIntrospectionUrl(request.url)) return done();
    void reply.hijack();
    introspect(request.raw, reply.raw);
  });
  return app;
}
