import { apiRoutes, routeSchemaOf, type ApiRouteName, type RouteSchema } from '../../api/routes.js';
import { wire } from '../../api/wire.js';

/**
 * The fastify schemas of the service's routes. The shapes are defined once, in src/api/wire.ts (shared with the
 * CLI's HTTP client); the statuses of each route follow from what it declares in src/api/routes.ts. Responses
 * are serialised through these schemas, so a field that is not declared (a value, a secret) can never leak into
 * a response by accident.
 */
export {
  auditEventSchema,
  errorSchema,
  INTROSPECT_HINT_MAX,
  INTROSPECT_TOKEN_MAX,
  namedSchemas,
  oauthErrorSchema,
  rotationSchema,
  tokenUsageSchema,
  tokenViewSchema,
  webhookSchema,
} from '../../api/wire.js';
export { ADMIN, ANYONE, apiRoutes, INTROSPECTORS, statusesOf } from '../../api/routes.js';

export const refParams = wire.refParams;

export const routeSchemas = Object.fromEntries(Object.entries(apiRoutes).map(([name, r]) => [name, routeSchemaOf(r)])) as {
  [K in ApiRouteName]: RouteSchema<(typeof apiRoutes)[K]>;
};
