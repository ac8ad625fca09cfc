import { parse as parseQueryString } from 'node:querystring';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';

/** What a plugin needs registered before it: plugins by name, and the decorations it reads. */
export interface PluginNeeds {
  plugins?: string[];
  decorators?: { fastify?: string[]; request?: string[] };
}

/**
 * Names a plugin and declares what it needs, as `fastify-plugin` does (without the package): fastify checks, when
 * the plugin is registered, that each plugin it names was registered before it and that each decoration exists,
 * and says which is missing. So app.ts reads as the composition it is, and an order that cannot work fails at start.
 */
export function declarePlugin<P extends (...args: never[]) => unknown>(plugin: P, name: string, needs: PluginNeeds = {}): P {
  return Object.assign(plugin, {
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: { name, dependencies: needs.plugins ?? [], decorators: needs.decorators ?? {} },
  });
}

/**
 * A plugin whose hooks, handlers and decorations apply to the instance that registers it, not to an encapsulated
 * child (what `fastify-plugin` is for). The service's cross-cutting plugins (auth, errors, request log, security
 * headers, decorations) are all registered on the root instance this way; route modules stay encapsulated
 * (declarePlugin alone).
 */
export function shared<Options extends object>(name: string, plugin: FastifyPluginAsync<Options>, needs: PluginNeeds = {}): FastifyPluginAsync<Options> {
  return Object.assign(declarePlugin(plugin, name, needs), { [Symbol.for('skip-override')]: true });
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
