import { parse as parseQueryString } from 'node:querystring';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';

/**
 * What `fastify-plugin` does, without the package (not installed): the plugin's hooks, handlers and decorations
 * apply to the instance that registers it, not to an encapsulated child. The service's cross-cutting plugins
 * (auth, errors, request log, security headers, decorations) are all registered on the root instance this way;
 * route modules stay encapsulated.
 */
export function shared<Options extends object>(name: string, plugin: FastifyPluginAsync<Options>): FastifyPluginAsync<Options> {
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: name });
}

/**
 * Form bodies (application/x-www-form-urlencoded) in this scope only: introspection (RFC 7662 sends the token so) and
 * the Tokens page's forms; the API under /v1 answers them 415. Parsed with node:querystring (several times faster
 * than URLSearchParams on introspection's path), under the same body limit. A repeated field becomes an array, which
 * the schemas then refuse: one `token`, not a choice of several.
 */
export function acceptFormBodies(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, { ...parseQueryString(body as string) });
  });
}
