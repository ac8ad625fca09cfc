import type { FastifyPluginAsync } from 'fastify';

/**
 * What `fastify-plugin` does, without the package (not installed): the plugin's hooks, handlers and decorations
 * apply to the instance that registers it, not to an encapsulated child. The service's cross-cutting plugins
 * (auth, errors, request log, security headers, decorations) are all registered on the root instance this way;
 * route modules stay encapsulated.
 */
export function shared<Options extends object>(name: string, plugin: FastifyPluginAsync<Options>): FastifyPluginAsync<Options> {
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: name });
}
