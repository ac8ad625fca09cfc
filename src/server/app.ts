import type http from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { TokenctlError, type ErrorKind } from '../core/errors.js';
import { parseTokenType, toTokenView, type TokenRecord } from '../core/tokens.js';
import { redactTokenLike } from '../ui/sanitize.js';
import { FailedAuthLimiter, type AuthLimiterOptions } from './auth-limiter.js';
import type { Role } from './credentials.js';
import { introspectionFastPath } from './fast-introspect.js';
import { Introspector } from './introspect.js';
import { LastUsedRecorder } from './last-used.js';
import { readOpenApiDocument } from './openapi.js';
import { auditEventSchema, errorSchema, rotationSchema, routeSchemas, tokenViewSchema } from './schemas.js';
import { actorOf, type Principal, type ServerStore } from './store.js';

export interface ServerLimits {
  /** Largest request body accepted, in bytes (413 beyond). */
  bodyLimit: number;
  /** Time allowed for a client to send the request headers (slowloris). */
  headersTimeoutMs: number;
  /** Time allowed for a client to send the whole request. */
  requestTimeoutMs: number;
  /** How often idle or slow connections are checked against those timeouts. */
  connectionsCheckingIntervalMs: number;
  /** Idle socket timeout. */
  connectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  bodyLimit: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  connectionsCheckingIntervalMs: 1_000,
  connectionTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
};

export const DEFAULT_AUTH_LIMIT: AuthLimiterOptions = { maxFailures: 10, windowMs: 60_000, blockMs: 60_000 };

export interface ServerAppOptions {
  store: ServerStore;
  clock: Clock;
  /** Where structured (JSON lines) logs go; none when absent. */
  logStream?: { write(line: string): void };
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  limits?: Partial<ServerLimits>;
  authLimit?: Partial<AuthLimiterOptions>;
  /** How often last-used times are written (0: only on flush and close). */
  lastUsedFlushMs?: number;
  /**
   * Addresses (or CIDR ranges) of reverse proxies whose X-Forwarded-For is believed, so that failed-login limits
   * apply per client rather than to the proxy. None by default.
   */
  trustProxy?: string[];
  /**
   * Answer well-formed introspection requests straight from node:http (fast-introspect.ts); on by default.
   * Off only to compare the two paths in tests.
   */
  fastIntrospection?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed on the route; absent: a public route. */
    roles?: readonly Role[];
  }
}

const STATUS_OF_KIND: Record<ErrorKind, number> = {
  usage: 400,
  permission: 403,
  notFound: 404,
  conflict: 409,
  pending: 409,
  policy: 409,
  unavailable: 503,
  cancelled: 400,
  data: 500,
  internal: 500,
};

/** One body for every authentication failure, whatever was wrong: nothing to learn from the difference. */
const UNAUTHENTICATED = { error: { kind: 'permission', message: 'authentication failed: missing, malformed or unknown credential' } };

const ADMIN: readonly Role[] = ['admin'];
const INTROSPECTORS: readonly Role[] = ['admin', 'service'];
const ANYONE: readonly Role[] = ['admin', 'user', 'partner', 'service'];

function errorBody(kind: ErrorKind, message: string) {
  return { error: { kind, message } };
}

/** Values and credentials never reach a log line, even inside an error message that echoes input. */
function redactSecrets(text: string): string {
  return redactTokenLike(text).replace(/tctl_key_[0-9A-Za-z]+/g, '[redacted]');
}

function forbiddenMessage(role: Role, roles: readonly Role[]): string {
  if (roles === INTROSPECTORS) return `only service principals and admins may introspect tokens; this credential's role is '${role}'`;
  return `only admins may manage tokens; this credential's role is '${role}'`;
}

export async function buildServerApp(options: ServerAppOptions): Promise<FastifyInstance> {
  const { store, clock } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const limiter = new FailedAuthLimiter({ ...DEFAULT_AUTH_LIMIT, ...options.authLimit });
  const introspector = new Introspector(store);
  const trustProxy = options.trustProxy && options.trustProxy.length > 0 ? options.trustProxy : false;
  const app = Fastify({
    logger: options.logStream
      ? {
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
        }
      : false,
    // One line per request, written by the onResponse hook below with only what is safe to log.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: limits.connectionsCheckingIntervalMs },
    routerOptions: { maxParamLength: 2048 },
    return503OnClosing: true,
    trustProxy,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
  });
  const recorder = new LastUsedRecorder(store, (error) => app.log.error({ err: error }, 'could not record last-used times'), options.lastUsedFlushMs ?? 5_000);

  /** The authentication and role check of one route; callback-style (no promise per request). */
  const authenticate = (roles: readonly Role[]) =>
    function authenticateRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
      const ip = request.ip;
      const wait = limiter.retryAfterSeconds(ip);
      if (wait > 0) {
        reply
          .code(429)
          .header('retry-after', String(wait))
          .send(errorBody('permission', `too many failed authentication attempts from this address; retry after ${wait} s`));
        return;
      }
      const header = request.headers.authorization;
      const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]{1,256})$/i.exec(header) : null;
      const principal = match ? store.authenticate(match[1]!) : null;
      if (!principal) {
        limiter.recordFailure(ip);
        reply.code(401).header('www-authenticate', 'Bearer realm="tokenctl"').send(UNAUTHENTICATED);
        return;
      }
      request.principal = principal;
      if (!roles.includes(principal.role)) {
        reply.code(403).send(errorBody('permission', forbiddenMessage(principal.role, roles)));
        return;
      }
      done();
    };

  app.decorateRequest('principal', null);
  // Every route, for the test that keeps api/openapi.yaml complete.
  const routes: { method: string; url: string }[] = [];
  app.decorate('apiRoutes', routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
    // Routes that declare roles get the authentication hook of their own (no per-request lookup of the config).
    const roles = r.config?.roles;
    if (roles) r.onRequest = [authenticate(roles), ...[r.onRequest ?? []].flat()] as typeof r.onRequest;
  });
  app.addSchema(tokenViewSchema);
  app.addSchema(errorSchema);
  app.addSchema(rotationSchema);
  app.addSchema(auditEventSchema);

  // RFC 7662 sends the token form-encoded; parsed with node:querystring (several times faster than
  // URLSearchParams on this hot path), under the same body limit. A repeated parameter becomes an array, which
  // the schema then refuses: one `token`, not a choice of several.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, { ...parseQueryString(body as string) });
  });

  const logRequests = Boolean(options.logStream) && ['trace', 'debug', 'info'].includes(options.logLevel ?? 'info');
  // Callback-style hooks (no promise per request): introspection is a hot path.
  app.addHook('onRequest', (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
    done();
  });

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (logRequests) {
      request.log.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? null,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 100) / 100,
          principal: request.principal?.id ?? null,
        },
        'request',
      );
    }
    done();
  });

  const sweeper = setInterval(() => introspector.sweep(), 1_000);
  sweeper.unref();
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    recorder.stop();
  });

  app.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody('notFound', 'no such route; see /openapi.yaml')));

  app.setErrorHandler((error: FastifyError | TokenctlError, request, reply) => {
    if (error instanceof TokenctlError) {
      if (error.kind === 'data' || error.kind === 'internal') {
        request.log.error({ err: error }, 'request failed');
        return reply.code(500).send(errorBody('internal', 'the token service failed to handle this request; its operator can find why in its logs'));
      }
      return reply.code(STATUS_OF_KIND[error.kind]).send(errorBody(error.kind, redactSecrets(error.message)));
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const first = fe.validation[0];
      const where = `${fe.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
      return reply.code(400).send(errorBody('usage', `invalid request: ${where} ${first?.message ?? 'is invalid'}`));
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(errorBody('usage', `request body is larger than ${limits.bodyLimit} bytes`));
    }
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send(errorBody('usage', 'unsupported content type; send application/json'));
    }
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
    if (status < 500) {
      // Parser errors can quote the body (and so a value): say what kind of problem it was, not what was sent.
      const message = error instanceof SyntaxError || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'request body is not valid JSON' : `bad request (${fe.code ?? status})`;
      return reply.code(status).send(errorBody('usage', message));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(errorBody('internal', 'the token service failed to handle this request; its operator can find why in its logs'));
  });

  const view = (t: TokenRecord) => {
    const unflushed = recorder.peek(t.id);
    const record = unflushed && (t.lastUsedAt === null || t.lastUsedAt < unflushed) ? { ...t, lastUsedAt: unflushed } : t;
    return toTokenView(record, clock.now());
  };
  const account = (request: FastifyRequest) => request.principal!.accountId;
  const actor = (request: FastifyRequest) => actorOf(request.principal!);

  // ---- public -----------------------------------------------------------------------------------------
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/.well-known/jwks.json', { schema: routeSchemas.jwks }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return { keys: store.signingKeys().map((k) => k.publicJwk) };
  });
  const openapi = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=300').type('application/yaml; charset=utf-8');
    return readOpenApiDocument();
  };
  app.get('/openapi.yaml', openapi);
  app.get('/v1/openapi.yaml', openapi);

  // ---- any principal ----------------------------------------------------------------------------------
  app.get('/v1/whoami', { schema: routeSchemas.whoami, config: { roles: ANYONE } }, async (request) => {
    const p = request.principal!;
    return { principal: { id: p.id, name: p.name, role: p.role }, account: store.account(p.accountId) };
  });

  // ---- token management: admins only (the spec: "Only admins can view and manage tokens") ---------------
  app.get('/v1/tokens', { schema: routeSchemas.list, config: { roles: ADMIN } }, async (request) => ({
    tokens: store.listTokens(account(request)).map(view),
  }));

  app.post<{ Body: { type: string; name: string } }>('/v1/tokens', { schema: routeSchemas.create, config: { roles: ADMIN } }, async (request, reply) => {
    const type = parseTokenType(request.body.type);
    const { token, value } = await store.createToken(account(request), { type, name: request.body.name }, actor(request), clock.now());
    request.log.info({ tokenId: token.id, type }, 'token created');
    return reply.code(201).send({ token: view(token), value });
  });

  app.get<{ Params: { ref: string } }>('/v1/tokens/:ref', { schema: routeSchemas.get, config: { roles: ADMIN } }, async (request) => ({
    token: view(store.findToken(account(request), request.params.ref)),
  }));

  app.post<{ Params: { ref: string }; Body: { allowPending?: boolean } }>(
    '/v1/tokens/:ref/reveal',
    { schema: routeSchemas.reveal, config: { roles: ADMIN } },
    async (request) => {
      const { token, value } = store.revealToken(account(request), request.params.ref, request.body?.allowPending === true, actor(request), clock.now());
      request.log.info({ tokenId: token.id }, 'token value revealed');
      return { token: view(token), value };
    },
  );

  app.patch<{ Params: { ref: string }; Body: { name: string } }>(
    '/v1/tokens/:ref',
    { schema: routeSchemas.rename, config: { roles: ADMIN } },
    async (request) => {
      const token = store.renameToken(account(request), request.params.ref, request.body.name, actor(request), clock.now());
      request.log.info({ tokenId: token.id }, 'token renamed');
      return { token: view(token) };
    },
  );

  app.delete<{ Params: { ref: string }; Body: { confirmation: string } }>(
    '/v1/tokens/:ref',
    { schema: routeSchemas.delete, config: { roles: ADMIN } },
    async (request) => {
      const token = store.deleteToken(account(request), request.params.ref, request.body.confirmation, actor(request), clock.now());
      request.log.info({ tokenId: token.id }, 'token deleted');
      return { token: view(token) };
    },
  );

  app.post<{ Body: { value: string } }>('/v1/identify', { schema: routeSchemas.identify, config: { roles: ADMIN } }, async (request) => {
    const token = store.identify(account(request), request.body.value);
    return { token: token ? view(token) : null };
  });

  // ---- rotation journal, audit trail, keys (admins) ------------------------------------------------------
  app.get('/v1/rotations', { schema: routeSchemas.rotations, config: { roles: ADMIN } }, async (request) => ({
    rotations: store.rotations(account(request)),
  }));

  app.post<{ Body: { ref: string; newName?: string } }>(
    '/v1/rotations',
    { schema: routeSchemas.startRotation, config: { roles: ADMIN } },
    async (request, reply) => {
      const started = await store.startRotation(account(request), request.body.ref, { newName: request.body.newName }, actor(request), clock.now());
      request.log.info({ rotation: started.rotation.id }, 'rotation started');
      return reply.code(201).send({ rotation: started.rotation, old: view(started.old), replacement: { token: view(started.replacement.token), value: started.replacement.value } });
    },
  );

  app.post<{ Params: { id: string }; Body: { delivery: 'stdout' | 'exec' } }>(
    '/v1/rotations/:id/deliver',
    { schema: routeSchemas.deliverRotation, config: { roles: ADMIN } },
    async (request) => ({
      rotation: store.markRotationDelivered(account(request), request.params.id, request.body.delivery, actor(request), clock.now()),
    }),
  );

  app.post<{ Params: { id: string }; Body: { confirmation: string } }>(
    '/v1/rotations/:id/complete',
    { schema: routeSchemas.completeRotation, config: { roles: ADMIN } },
    async (request) => {
      const done = store.completeRotation(account(request), request.params.id, request.body.confirmation, actor(request), clock.now());
      return { rotation: done.rotation, old: view(done.old) };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/v1/rotations/:id/abandon',
    { schema: routeSchemas.abandonRotation, config: { roles: ADMIN } },
    async (request) => ({
      rotation: store.abandonRotation(account(request), request.params.id, request.body.reason, actor(request), clock.now()),
    }),
  );

  app.get('/v1/audit/events', { schema: routeSchemas.auditEvents, config: { roles: ADMIN } }, async (request) => ({
    events: store.auditEvents(account(request)),
  }));
  app.get('/v1/audit/verify', { schema: routeSchemas.auditVerify, config: { roles: ADMIN } }, async (request) => store.verifyAudit(account(request)));
  app.get('/v1/account/keys', { schema: routeSchemas.accountKeys, config: { roles: ADMIN } }, async (request) => store.accountKeys(account(request)));

  // ---- introspection for resource servers (RFC 7662) ----------------------------------------------------
  const answerIntrospection = (token: string, accountId: string) => {
    const now = clock.now();
    const answer = introspector.introspect(token, accountId, now);
    if (answer.tokenId !== undefined) recorder.record(answer.tokenId, now);
    return answer;
  };
  app.post<{ Body: { token: string } }>('/v1/introspect', { schema: routeSchemas.introspect, config: { roles: INTROSPECTORS } }, async (request) =>
    answerIntrospection(request.body.token, account(request)).response,
  );

  if (options.fastIntrospection !== false) {
    let closing = false;
    app.addHook('preClose', (done) => {
      closing = true;
      done();
    });
    let fastRequests = 0;
    const fastPath = introspectionFastPath({
      bodyLimit: limits.bodyLimit,
      trustProxy: trustProxy !== false,
      closing: () => closing,
      retryAfterSeconds: (address) => limiter.retryAfterSeconds(address),
      authenticate: (credential) => store.authenticate(credential),
      roles: INTROSPECTORS,
      introspect: (token, principal) => answerIntrospection(token, principal.accountId).json,
      failed: (error) => app.log.error({ err: error }, 'request failed'),
      logRequest: logRequests ? (line) => app.log.info({ reqId: `fast-${++fastRequests}`, ...line }, 'request') : null,
    });
    // In front of fastify's own request handler on the server fastify made (with its timeouts and limits). Not
    // through fastify's serverFactory: with one, fastify no longer listens on every address of a name such as
    // localhost (127.0.0.1 and ::1). Extra servers fastify makes for such names get fastify's handler alone.
    const [fastifyHandler, ...others] = app.server.listeners('request') as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
    if (fastifyHandler && others.length === 0) {
      app.server.removeListener('request', fastifyHandler);
      app.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (!fastPath(req, res)) fastifyHandler(req, res);
      });
    }
  }

  // Test and shutdown hook: write pending last-used times now.
  app.decorate('flushLastUsed', () => recorder.flush());
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    flushLastUsed(): void;
    apiRoutes: { method: string; url: string }[];
  }
}
