import { TOKEN_TYPES } from '../core/tokens.js';
import { ROLES } from './credentials.js';

/** JSON schemas of the /v1 API (the same shapes as api/openapi.yaml). Responses are serialised through them, so
 * a field that is not declared here (a value, a secret) can never leak into a response by accident. */

const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;
const time = { type: 'string', format: 'date-time' } as const;

export const tokenViewSchema = {
  $id: 'TokenView',
  type: 'object',
  required: ['id', 'name', 'type', 'status', 'stale', 'createdAt', 'activatesAt', 'deletedAt', 'rejectedAt', 'ageDays', 'rotateBy', 'lastUsedAt', 'masked'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    type: { type: 'string', enum: [...TOKEN_TYPES] },
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
    type: { type: 'string', enum: [...TOKEN_TYPES] },
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
    action: { type: 'string' },
    token: {
      anyOf: [
        { type: 'null' },
        { type: 'object', required: ['id', 'name', 'type'], properties: { id: { type: 'string' }, name: { type: 'string' }, type: { type: 'string' } } },
      ],
    },
    fingerprint: { type: ['string', 'null'] },
    detail: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: { type: 'string' } }] },
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
      properties: { kind: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

const tokenRef = { $ref: 'TokenView#' } as const;
const withValue = {
  type: 'object',
  required: ['token', 'value'],
  properties: { token: tokenRef, value: { type: 'string' } },
} as const;
const rotationRef = { $ref: 'Rotation#' } as const;
const oneRotation = { type: 'object', required: ['rotation'], properties: { rotation: rotationRef } } as const;
const rotationId = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;
const jwk = {
  type: 'object',
  required: ['kty', 'crv', 'x', 'kid', 'alg', 'use'],
  properties: {
    kty: { type: 'string' },
    crv: { type: 'string' },
    x: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    use: { type: 'string' },
  },
} as const;
const oneToken = { type: 'object', required: ['token'], properties: { token: tokenRef } } as const;

/** Bounded strings: names are checked by the core (so messages match the local backend); this only caps size. */
const boundedString = { type: 'string', maxLength: 1024 } as const;

export const refParams = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

/** Lengths (in code points, as ajv counts) of the introspection form's fields; the fast path checks the same. */
export const INTROSPECT_TOKEN_MAX = 8192;
export const INTROSPECT_HINT_MAX = 64;

export const routeSchemas = {
  whoami: {
    response: {
      200: {
        type: 'object',
        required: ['principal', 'account'],
        properties: {
          principal: {
            type: 'object',
            required: ['id', 'name', 'role'],
            properties: { id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string', enum: [...ROLES] } },
          },
          account: {
            type: 'object',
            required: ['id', 'name', 'createdAt'],
            properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: time },
          },
        },
      },
    },
  },
  list: {
    response: { 200: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: tokenRef } } } },
  },
  create: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'name'],
      properties: { type: boundedString, name: boundedString },
    },
    response: { 201: withValue },
  },
  get: { params: refParams, response: { 200: oneToken } },
  reveal: {
    params: refParams,
    body: { type: 'object', additionalProperties: false, properties: { allowPending: { type: 'boolean' } } },
    response: { 200: withValue },
  },
  rename: {
    params: refParams,
    body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: boundedString } },
    response: { 200: oneToken },
  },
  delete: {
    params: refParams,
    body: { type: 'object', additionalProperties: false, required: ['confirmation'], properties: { confirmation: boundedString } },
    response: { 200: oneToken },
  },
  identify: {
    body: { type: 'object', additionalProperties: false, required: ['value'], properties: { value: { type: 'string', maxLength: 8192 } } },
    response: { 200: { type: 'object', required: ['token'], properties: { token: { anyOf: [tokenRef, { type: 'null' }] } } } },
  },
  introspect: {
    // RFC 7662 allows extension parameters; `token` is the only one this service reads.
    body: {
      type: 'object',
      required: ['token'],
      properties: { token: { type: 'string', maxLength: INTROSPECT_TOKEN_MAX }, token_type_hint: { type: 'string', maxLength: INTROSPECT_HINT_MAX } },
    },
    response: {
      200: {
        type: 'object',
        required: ['active'],
        properties: {
          active: { type: 'boolean' },
          type: { type: 'string' },
          status: { type: 'string' },
          sub: { type: 'string' },
          iss: { type: 'string' },
          jti: { type: 'string' },
          iat: { type: 'integer' },
          nbf: { type: 'integer' },
          exp: { type: 'integer' },
        },
      },
    },
  },
  jwks: {
    response: { 200: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: jwk } } } },
  },
  accountKeys: {
    response: {
      200: {
        type: 'object',
        required: ['accountId', 'issuer', 'keys'],
        properties: { accountId: { type: 'string' }, issuer: { type: 'string' }, keys: { type: 'array', items: jwk } },
      },
    },
  },
  rotations: {
    response: { 200: { type: 'object', required: ['rotations'], properties: { rotations: { type: 'array', items: rotationRef } } } },
  },
  startRotation: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['ref'],
      properties: { ref: boundedString, newName: boundedString },
    },
    response: {
      201: {
        type: 'object',
        required: ['rotation', 'old', 'replacement'],
        properties: { rotation: rotationRef, old: tokenRef, replacement: withValue },
      },
    },
  },
  deliverRotation: {
    params: rotationId,
    body: { type: 'object', additionalProperties: false, required: ['delivery'], properties: { delivery: { type: 'string', enum: ['stdout', 'exec'] } } },
    response: { 200: oneRotation },
  },
  completeRotation: {
    params: rotationId,
    body: { type: 'object', additionalProperties: false, required: ['confirmation'], properties: { confirmation: boundedString } },
    response: { 200: { type: 'object', required: ['rotation', 'old'], properties: { rotation: rotationRef, old: tokenRef } } },
  },
  abandonRotation: {
    params: rotationId,
    body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: boundedString } },
    response: { 200: oneRotation },
  },
  auditEvents: {
    response: { 200: { type: 'object', required: ['events'], properties: { events: { type: 'array', items: { $ref: 'AuditEvent#' } } } } },
  },
  auditVerify: {
    response: {
      200: {
        type: 'object',
        required: ['ok'],
        properties: { ok: { type: 'boolean' }, events: { type: 'integer' }, lastAt: { type: ['string', 'null'] }, line: { type: 'integer' }, reason: { type: 'string' } },
      },
    },
  },
} as const;
