import { EXIT_CODES, type ErrorKind } from '../core/errors.js';
import { ROLES } from '../core/roles.js';
import { TOKEN_TYPES } from '../core/tokens.js';

/**
 * The JSON shapes of the /v1 API, defined once (api/openapi.yaml documents the same shapes; test/server/http/openapi
 * compares them). The service serialises its responses through these schemas (fastify), so a field that is not
 * declared here (a value, a secret) can never leak into a response by accident; the HTTP client checks what it
 * receives against the very same objects with `parseWire` (a small hand-written checker, no validator library:
 * this module is loaded by the CLI's HTTP backend, and only by it).
 *
 * The schemas use a small subset of JSON Schema, which `conforms` implements: type (one or a list), enum, const,
 * required, properties, additionalProperties (a schema), items, anyOf, $ref to a named schema below, minLength,
 * maxLength (in code points, as ajv counts) and format date-time. Their TypeScript types are derived from them
 * (`Infer`), never declared a second time.
 */

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const time = { type: 'string', format: 'date-time' } as const;

export const tokenViewSchema = {
  $id: 'TokenView',
  type: 'object',
  required: ['id', 'name', 'type', 'status', 'stale', 'createdAt', 'activatesAt', 'deletedAt', 'rejectedAt', 'ageDays', 'rotateBy', 'lastUsedAt', 'masked'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    type: { type: 'string', enum: TOKEN_TYPES },
    status: { type: 'string', enum: ['pending', 'active', 'draining', 'revoked'] },
    stale: { type: 'boolean' },
    createdAt: time,
    activatesAt: time,
    deletedAt: nullableTime,
    rejectedAt: nullableTime,
    ageDays: { type: 'integer' },
    rotateBy: time,
    lastUsedAt: nullableTime,
    masked: { type: 'string' },
  },
} as const;

export const rotationSchema = {
  $id: 'Rotation',
  type: 'object',
  required: ['id', 'oldTokenId', 'newTokenId', 'type', 'state', 'startedAt', 'deliveredAt', 'completedAt', 'delivery', 'note'],
  properties: {
    id: { type: 'string' },
    oldTokenId: { type: 'string' },
    newTokenId: { type: 'string' },
    type: { type: 'string', enum: TOKEN_TYPES },
    state: { type: 'string', enum: ['started', 'delivered', 'completed', 'abandoned'] },
    startedAt: time,
    deliveredAt: nullableTime,
    completedAt: nullableTime,
    delivery: { type: ['string', 'null'], enum: ['stdout', 'exec', null] },
    note: { type: ['string', 'null'] },
  },
} as const;

export const auditEventSchema = {
  $id: 'AuditEvent',
  type: 'object',
  required: ['seq', 'at', 'actor', 'action', 'token', 'fingerprint', 'detail'],
  properties: {
    seq: { type: 'integer' },
    at: time,
    actor: { type: 'string' },
    // Not an enum: a newer service may record actions this client does not know yet, and must not break it.
    action: { type: 'string' },
    token: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['id', 'name', 'type'],
          properties: { id: { type: 'string' }, name: { type: 'string' }, type: { type: 'string', enum: TOKEN_TYPES } },
        },
      ],
    },
    fingerprint: { type: ['string', 'null'] },
    detail: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: { type: 'string' } }] },
  },
} as const;

/** One caller of a token (core/usage.ts UsageCaller): the resource server and client address, or who retrieved the value. */
const usageCallerSchema = {
  type: 'object',
  required: ['kind', 'principalId', 'principalName', 'address', 'firstSeenAt', 'lastSeenAt', 'calls', 'drainingCalls', 'drainingLastSeenAt'],
  properties: {
    kind: { type: 'string', enum: ['introspection', 'retrieval'] },
    principalId: { type: ['string', 'null'] },
    principalName: { type: ['string', 'null'] },
    address: { type: ['string', 'null'] },
    firstSeenAt: time,
    lastSeenAt: time,
    calls: { type: 'integer' },
    drainingCalls: { type: 'integer' },
    drainingLastSeenAt: nullableTime,
  },
} as const;

/** A token's usage (core/usage.ts TokenUsage): when it was last presented, by whom, from where, how often per day. */
export const tokenUsageSchema = {
  $id: 'TokenUsage',
  type: 'object',
  required: ['tokenId', 'tracked', 'lastUsedAt', 'calls24h', 'callsPerDay', 'callers'],
  properties: {
    tokenId: { type: 'string' },
    tracked: { type: 'boolean' },
    lastUsedAt: nullableTime,
    calls24h: { type: 'integer' },
    callsPerDay: {
      type: 'array',
      items: { type: 'object', required: ['day', 'calls'], properties: { day: { type: 'string' }, calls: { type: 'integer' } } },
    },
    callers: { type: 'array', items: usageCallerSchema },
  },
} as const;

/** One attempt to deliver a notification, as an endpoint's delivery log shows it. */
const webhookAttemptSchema = {
  type: 'object',
  required: ['messageId', 'type', 'attempt', 'at', 'ok', 'status', 'error', 'ms', 'nextAttemptAt'],
  properties: {
    messageId: { type: 'string' },
    type: { type: 'string' },
    attempt: { type: 'integer' },
    at: time,
    ok: { type: 'boolean' },
    status: { type: ['integer', 'null'] },
    error: { type: ['string', 'null'] },
    ms: { type: 'integer' },
    nextAttemptAt: nullableTime,
  },
} as const;

/** A webhook endpoint of the account, never with its secret. */
export const webhookSchema = {
  $id: 'Webhook',
  type: 'object',
  required: ['id', 'url', 'events', 'description', 'createdAt', 'createdBy', 'deliveries'],
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    description: { type: 'string' },
    createdAt: time,
    createdBy: { type: 'string' },
    deliveries: {
      type: 'object',
      required: ['pending', 'failed', 'delivered', 'lastAttempt'],
      properties: {
        pending: { type: 'integer' },
        failed: { type: 'integer' },
        delivered: { type: 'integer' },
        lastAttempt: { anyOf: [{ type: 'null' }, webhookAttemptSchema] },
      },
    },
  },
} as const;

const ERROR_KINDS = Object.keys(EXIT_CODES).filter((k) => k !== 'ok') as ErrorKind[];

/**
 * The errors of the OAuth endpoint (POST /v1/introspect), in the shape OAuth libraries parse (RFC 6749 section 5.2,
 * RFC 6750 section 3.1) rather than the API's own.
 */
export const oauthErrorSchema = {
  $id: 'OAuthError',
  type: 'object',
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string', enum: ['invalid_request', 'invalid_client', 'invalid_token', 'insufficient_scope', 'temporarily_unavailable', 'server_error'] },
    error_description: { type: 'string' },
  },
} as const;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['kind', 'message'],
      properties: { kind: { type: 'string', enum: ERROR_KINDS }, message: { type: 'string' } },
    },
  },
} as const;

/** The named schemas, as the service registers them (fastify's addSchema) and `$ref` finds them. */
export const namedSchemas = [tokenViewSchema, rotationSchema, auditEventSchema, errorSchema, oauthErrorSchema, tokenUsageSchema, webhookSchema] as const;

const tokenRef = { $ref: 'TokenView#' } as const;
const usageRef = { $ref: 'TokenUsage#' } as const;
const webhookRef = { $ref: 'Webhook#' } as const;
const rotationRef = { $ref: 'Rotation#' } as const;
export const errorRef = { $ref: 'Error#' } as const;
export const oauthErrorRef = { $ref: 'OAuthError#' } as const;

/** A public signing key of an account: Ed25519 (EdDSA), P-256 (ES256) or RSA (RS256), each with the one alg it signs with. */
const jwkSchema = {
  anyOf: [
    {
      type: 'object',
      required: ['kty', 'crv', 'x', 'kid', 'alg', 'use'],
      properties: {
        // enum rather than const: fastify's serializer writes a const without looking at the value.
        kty: { type: 'string', enum: ['OKP'] },
        crv: { type: 'string', enum: ['Ed25519'] },
        x: { type: 'string' },
        kid: { type: 'string' },
        alg: { type: 'string', enum: ['EdDSA'] },
        use: { type: 'string', enum: ['sig'] },
      },
    },
    {
      type: 'object',
      required: ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use'],
      properties: {
        kty: { type: 'string', enum: ['EC'] },
        crv: { type: 'string', enum: ['P-256'] },
        x: { type: 'string' },
        y: { type: 'string' },
        kid: { type: 'string' },
        alg: { type: 'string', enum: ['ES256'] },
        use: { type: 'string', enum: ['sig'] },
      },
    },
    {
      type: 'object',
      required: ['kty', 'n', 'e', 'kid', 'alg', 'use'],
      properties: {
        kty: { type: 'string', enum: ['RSA'] },
        n: { type: 'string' },
        e: { type: 'string' },
        kid: { type: 'string' },
        alg: { type: 'string', enum: ['RS256'] },
        use: { type: 'string', enum: ['sig'] },
      },
    },
  ],
} as const;

/** Bounded strings: names are checked by the core (so messages match the local backend); this only caps size. */
const boundedString = { type: 'string', maxLength: 1024 } as const;

/** Lengths (in code points, as ajv counts) of the introspection form's fields; the fast path checks the same. */
export const INTROSPECT_TOKEN_MAX = 8192;
export const INTROSPECT_HINT_MAX = 64;

/**
 * The caller's account. `features`: its premium features (core/features.ts: `onelink`), so a client can offer only
 * the token types the account may create; a service older than them sends none (every feature, as before).
 */
export const accountSchema = {
  type: 'object',
  required: ['id', 'name', 'createdAt'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: time, features: { type: 'array', items: { type: 'string' } } },
} as const;

/** Request and response bodies and path parameters, per operation. */
export const wire = {
  refParams: {
    type: 'object',
    required: ['ref'],
    properties: { ref: { type: 'string', minLength: 1, maxLength: 1024 } },
  },
  rotationIdParams: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  },
  webhookIdParams: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  },
  health: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } },
  ready: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ready'] } } },
  whoami: {
    type: 'object',
    required: ['principal', 'account'],
    properties: {
      principal: {
        type: 'object',
        required: ['id', 'name', 'role'],
        properties: { id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string', enum: ROLES } },
      },
      account: accountSchema,
    },
  },
  tokenList: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: tokenRef } } },
  oneToken: { type: 'object', required: ['token'], properties: { token: tokenRef } },
  tokenWithValue: { type: 'object', required: ['token', 'value'], properties: { token: tokenRef, value: { type: 'string' } } },
  createBody: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'name'],
    properties: { type: boundedString, name: boundedString },
  },
  revealBody: { type: 'object', additionalProperties: false, properties: { allowPending: { type: 'boolean' } } },
  renameBody: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: boundedString } },
  deleteBody: { type: 'object', additionalProperties: false, required: ['confirmation'], properties: { confirmation: boundedString } },
  identifyBody: { type: 'object', additionalProperties: false, required: ['value'], properties: { value: { type: 'string', maxLength: 8192 } } },
  identified: { type: 'object', required: ['token'], properties: { token: { anyOf: [tokenRef, { type: 'null' }] } } },
  introspectBody: {
    // RFC 7662 allows extension parameters; `token` is what this service answers about. client_id and client_secret
    // are client_secret_post's credentials (RFC 6749 section 2.3.1), read by the door.
    type: 'object',
    required: ['token'],
    properties: {
      token: { type: 'string', maxLength: INTROSPECT_TOKEN_MAX },
      token_type_hint: { type: 'string', maxLength: INTROSPECT_HINT_MAX },
      client_id: { type: 'string' },
      client_secret: { type: 'string' },
    },
  },
  introspection: {
    type: 'object',
    required: ['active'],
    properties: {
      active: { type: 'boolean' },
      type: { type: 'string' },
      status: { type: 'string' },
      sub: { type: 'string' },
      iss: { type: 'string' },
      client_id: { type: 'string' },
      jti: { type: 'string' },
      iat: { type: 'integer' },
      nbf: { type: 'integer' },
      exp: { type: 'integer' },
    },
  },
  jwks: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: jwkSchema } } },
  accountIdParams: { type: 'object', required: ['accountId'], properties: { accountId: { type: 'string', maxLength: 64 } } },
  /** RFC 8414 authorization server metadata: an account's (with its JWKS), or the service's (introspection only). */
  authorizationServerMetadata: {
    type: 'object',
    required: ['issuer', 'introspection_endpoint', 'introspection_endpoint_auth_methods_supported', 'response_types_supported', 'grant_types_supported'],
    properties: {
      issuer: { type: 'string' },
      jwks_uri: { type: 'string' },
      introspection_endpoint: { type: 'string' },
      introspection_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string' } },
      response_types_supported: { type: 'array', items: { type: 'string' } },
      grant_types_supported: { type: 'array', items: { type: 'string' } },
      service_documentation: { type: 'string' },
    },
  },
  accountKeys: {
    type: 'object',
    required: ['accountId', 'issuer', 'keys'],
    properties: { accountId: { type: 'string' }, issuer: { type: 'string' }, keys: { type: 'array', items: jwkSchema } },
  },
  rotationList: { type: 'object', required: ['rotations'], properties: { rotations: { type: 'array', items: rotationRef } } },
  oneRotation: { type: 'object', required: ['rotation'], properties: { rotation: rotationRef } },
  startRotationBody: {
    type: 'object',
    additionalProperties: false,
    required: ['ref'],
    properties: { ref: boundedString, newName: boundedString },
  },
  rotationStarted: {
    type: 'object',
    required: ['rotation', 'old', 'replacement'],
    properties: {
      rotation: rotationRef,
      old: tokenRef,
      replacement: { type: 'object', required: ['token', 'value'], properties: { token: tokenRef, value: { type: 'string' } } },
    },
  },
  deliverBody: { type: 'object', additionalProperties: false, required: ['delivery'], properties: { delivery: { type: 'string', enum: ['stdout', 'exec'] } } },
  completeBody: { type: 'object', additionalProperties: false, required: ['confirmation'], properties: { confirmation: boundedString } },
  rotationCompleted: { type: 'object', required: ['rotation', 'old'], properties: { rotation: rotationRef, old: tokenRef } },
  abandonBody: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: boundedString } },
  auditEvents: { type: 'object', required: ['events'], properties: { events: { type: 'array', items: { $ref: 'AuditEvent#' } } } },
  usageOverview: { type: 'object', required: ['asOf', 'tokens'], properties: { asOf: time, tokens: { type: 'array', items: usageRef } } },
  tokenUsage: { type: 'object', required: ['token', 'usage'], properties: { token: tokenRef, usage: usageRef } },
  webhookList: { type: 'object', required: ['webhooks'], properties: { webhooks: { type: 'array', items: webhookRef } } },
  oneWebhook: { type: 'object', required: ['webhook'], properties: { webhook: webhookRef } },
  webhookCreated: { type: 'object', required: ['webhook', 'secret'], properties: { webhook: webhookRef, secret: { type: 'string' } } },
  addWebhookBody: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: { url: { type: 'string', maxLength: 2048 }, events: { type: 'array', items: { type: 'string', maxLength: 64 } }, description: boundedString },
  },
  webhookTestSent: { type: 'object', required: ['messageId'], properties: { messageId: { type: 'string' } } },
  webhookAttempts: { type: 'object', required: ['attempts'], properties: { attempts: { type: 'array', items: webhookAttemptSchema } } },
  auditVerification: {
    anyOf: [
      {
        type: 'object',
        required: ['ok', 'events', 'lastAt'],
        properties: { ok: { type: 'boolean', enum: [true] }, events: { type: 'integer' }, lastAt: { type: ['string', 'null'] } },
      },
      {
        type: 'object',
        required: ['ok', 'line', 'reason'],
        properties: { ok: { type: 'boolean', enum: [false] }, line: { type: 'integer' }, reason: { type: 'string' } },
      },
    ],
  },
} as const;

// ---- types derived from the schemas ----------------------------------------------------------------------

interface Named {
  'TokenView#': typeof tokenViewSchema;
  'Rotation#': typeof rotationSchema;
  'AuditEvent#': typeof auditEventSchema;
  'Error#': typeof errorSchema;
  'OAuthError#': typeof oauthErrorSchema;
  'TokenUsage#': typeof tokenUsageSchema;
  'Webhook#': typeof webhookSchema;
}

type Primitive<T> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'array'
          ? unknown[]
          : T extends 'object'
            ? Record<string, unknown>
            : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<P, R> = Simplify<{ -readonly [K in keyof P & R]: Infer<P[K]> } & { -readonly [K in Exclude<keyof P, R>]?: Infer<P[K]> }>;

/** The TypeScript type of the values a schema of this module accepts. */
export type Infer<S> = S extends { readonly $ref: infer R extends keyof Named }
  ? Infer<Named[R]>
  : S extends { readonly anyOf: readonly (infer A)[] }
    ? Infer<A>
    : S extends { readonly const: infer C }
      ? C
      : S extends { readonly enum: readonly (infer E)[] }
        ? E
        : S extends { readonly type: 'array'; readonly items: infer I }
          ? Infer<I>[]
          : S extends { readonly type: 'object'; readonly properties: infer P }
            ? ObjectOf<P, S extends { readonly required: readonly (infer K)[] } ? K : never>
            : S extends { readonly type: 'object'; readonly additionalProperties: infer V }
              ? Record<string, Infer<V>>
              : S extends { readonly type: readonly (infer T)[] }
                ? Primitive<T>
                : S extends { readonly type: infer T }
                  ? Primitive<T>
                  : unknown;

export type WireTokenView = Infer<typeof tokenViewSchema>;
export type WireRotation = Infer<typeof rotationSchema>;
export type WireAuditEvent = Infer<typeof auditEventSchema>;
export type WireError = Infer<typeof errorSchema>;
export type WireTokenUsage = Infer<typeof tokenUsageSchema>;
export type WireWebhook = Infer<typeof webhookSchema>;
export type Wire<K extends keyof typeof wire> = Infer<(typeof wire)[K]>;

/**
 * The header with which every answer of the API says the service's time (ISO 8601): statuses (pending, active,
 * draining) are the service's decisions by its clock, which a client shows them by (a drill's TOKENCTL_NOW on the
 * service included), not by its own.
 */
export const SERVICE_CLOCK_HEADER = 'tokenctl-now';

// ---- the checker ---------------------------------------------------------------------------------------

/** A schema of this module, as the checker reads it. */
interface SchemaNode {
  $id?: string;
  $ref?: string;
  type?: string | readonly string[];
  enum?: readonly unknown[];
  const?: unknown;
  required?: readonly string[];
  properties?: Readonly<Record<string, SchemaNode>>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  anyOf?: readonly SchemaNode[];
  minLength?: number;
  maxLength?: number;
  format?: string;
}

const byRef = new Map<string, SchemaNode>(namedSchemas.map((s) => [`${s.$id}#`, s as SchemaNode]));

/** RFC 3339 date-time (what toISOString writes, and what ajv-formats accepts). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    default:
      return false;
  }
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Where a value breaks its schema (a JSON pointer, '' for the value itself) and how, worded as ajv words it. */
export interface Violation {
  path: string;
  message: string;
}

/**
 * The first way `value` breaks `schema` (`{path:'/token', message:'must be string'}`,
 * `{path:'', message:"must have required property 'name'"}`), or null when it conforms. The service checks request
 * bodies with it (src/server/plugins/schema-compilers.ts) and the CLI checks answers with it: one checker.
 */
export function firstViolation(schema: unknown, value: unknown, path = ''): Violation | null {
  const s = schema as SchemaNode;
  if (s.$ref !== undefined) return firstViolation(resolveRef(s.$ref), value, path);
  const at = (message: string): Violation => ({ path, message });
  if (s.anyOf) {
    return s.anyOf.some((branch) => firstViolation(branch, value, path) === null) ? null : at('must match a schema in anyOf');
  }
  if (s.type !== undefined) {
    const types = typeof s.type === 'string' ? [s.type] : s.type;
    if (!types.some((t) => typeMatches(t, value))) return at(`must be ${types.join(',')}`);
  }
  if (s.const !== undefined && value !== s.const) return at('must be equal to constant');
  if (s.enum && !s.enum.includes(value)) return at('must be equal to one of the allowed values');
  if (typeof value === 'string') {
    if (s.maxLength !== undefined && value.length > s.maxLength && codePoints(value) > s.maxLength) return at(`must NOT have more than ${s.maxLength} characters`);
    if (s.minLength !== undefined && codePoints(value) < s.minLength) return at(`must NOT have fewer than ${s.minLength} characters`);
    if (s.format === 'date-time' && !(DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)))) return at('must match format "date-time"');
  }
  if (Array.isArray(value) && s.items) {
    for (let i = 0; i < value.length; i++) {
      const bad = firstViolation(s.items, value[i], `${path}/${i}`);
      if (bad !== null) return bad;
    }
  }
  if (isObject(value)) {
    for (const key of s.required ?? []) if (!Object.hasOwn(value, key)) return at(`must have required property '${key}'`);
    const declared = s.properties ?? {};
    const extra = s.additionalProperties;
    if (extra !== undefined && extra !== true) {
      for (const [key, item] of Object.entries(value)) {
        if (Object.hasOwn(declared, key)) continue;
        if (extra === false) return at('must NOT have additional properties');
        const bad = firstViolation(extra, item, `${path}/${key}`);
        if (bad !== null) return bad;
      }
    }
    // In the schema's order, as ajv reports them.
    for (const [key, rule] of Object.entries(declared)) {
      if (!Object.hasOwn(value, key)) continue;
      const bad = firstViolation(rule, value[key], `${path}/${key}`);
      if (bad !== null) return bad;
    }
  }
  return null;
}

function resolveRef(ref: string): SchemaNode {
  const target = byRef.get(ref);
  if (!target) throw new Error(`unknown schema reference ${ref}`);
  return target;
}

/** The first violation as one line (`/token must be string`), or null. */
export function violation(schema: unknown, value: unknown): string | null {
  const v = firstViolation(schema, value);
  return v === null ? null : v.path === '' ? v.message : `${v.path} ${v.message}`;
}

/**
 * `value` with only what `schema` declares, in the schema's order: a field that is not declared (a value, a
 * secret) never reaches an answer by accident. The service writes its responses through it.
 */
export function declaredOnly(schema: unknown, value: unknown): unknown {
  const s = schema as SchemaNode;
  if (s.$ref !== undefined) return declaredOnly(resolveRef(s.$ref), value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return s.items ? value.map((item) => declaredOnly(s.items, item)) : value;
  if (s.anyOf) {
    const branch = s.anyOf.find((b) => firstViolation(b, value) === null) ?? s.anyOf.find((b) => b.$ref !== undefined || b.type === 'object' || b.properties);
    return branch ? declaredOnly(branch, value) : value;
  }
  if (!s.properties) return value;
  const out: Record<string, unknown> = {};
  const object = value as Record<string, unknown>;
  for (const [key, rule] of Object.entries(s.properties)) if (object[key] !== undefined) out[key] = declaredOnly(rule, object[key]);
  if (s.additionalProperties !== undefined && s.additionalProperties !== false) {
    for (const [key, item] of Object.entries(object)) {
      if (Object.hasOwn(s.properties, key) || item === undefined) continue;
      out[key] = s.additionalProperties === true ? item : declaredOnly(s.additionalProperties, item);
    }
  }
  return out;
}

/** Schema keywords the checker above knows; annotations (description, examples...) change nothing it accepts. */
export const CHECKED_KEYWORDS: ReadonlySet<string> = new Set([
  '$id',
  '$ref',
  'type',
  'enum',
  'const',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'anyOf',
  'minLength',
  'maxLength',
  'format',
  'title',
  'description',
  'examples',
  'example',
  'default',
]);

/** Whether `value` has the shape `schema` defines (and, for TypeScript, is of its type). */
export function conforms<S>(schema: S, value: unknown): value is Infer<S> {
  return violation(schema, value) === null;
}

/** The value as the schema's type, or undefined when it does not have that shape. */
export function parseWire<S>(schema: S, value: unknown): Infer<S> | undefined {
  return conforms(schema, value) ? value : undefined;
}

/** The kind and message of an error body, each when it has the shape `errorSchema` gives it. */
export function errorParts(body: unknown): { kind: ErrorKind | undefined; message: string | undefined } {
  const error = isObject(body) ? body.error : undefined;
  if (!isObject(error)) return { kind: undefined, message: undefined };
  const fields = errorSchema.properties.error.properties;
  return {
    kind: conforms(fields.kind, error.kind) ? error.kind : undefined,
    message: conforms(fields.message, error.message) ? error.message : undefined,
  };
}
