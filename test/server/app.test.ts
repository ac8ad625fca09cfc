import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { tokenRoutes } from '../../src/server/http/routes/v1/tokens.js';
import { tokensPageRoutes } from '../../src/server/web/routes.js';
import { errorMapping } from '../../src/server/http/plugins/errors.js';
import { startTestServer } from '../helpers/server.js';

/**
 * app.ts is a composition of plugins that declare what they need (http/plugins/shared.ts declarePlugin): fastify
 * refuses to start a composition that misses one, and names it, instead of failing on the first request.
 */
describe('the service as a composition of declared plugins', () => {
  it('a route module registered without the plugins it needs does not start, naming the missing one', async () => {
    const bare = Fastify();
    await expect(bare.register(tokenRoutes, { prefix: '/v1' }).ready()).rejects.toMatchObject({
      code: 'FST_ERR_PLUGIN_NOT_PRESENT_IN_INSTANCE',
      message: "The decorator 'accounts' required by 'v1 tokens' is not present in Fastify",
    });
    // The decorations there (by hand), but not the plugins that make and check them: the first missing one is named.
    const decorated = Fastify();
    for (const name of ['accounts', 'tokenView', 'storage', 'clock', 'revealValue']) decorated.decorate(name, null);
    decorated.decorateRequest('principal', null);
    await expect(decorated.register(tokenRoutes, { prefix: '/v1' }).ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED', message: expect.stringContaining("'service'") });
    const withService = Fastify();
    for (const name of ['accounts', 'tokenView', 'storage', 'clock', 'usage', 'webhooks', 'revealValue']) withService.decorate(name, null);
    await withService.register(errorMapping, { bodyLimit: 1024 });
    await expect(withService.register(tokensPageRoutes, { authenticator: null as never }).ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED', message: expect.stringContaining("'service'") });
  });

  it('the real composition starts, with every plugin named', async () => {
    const server = await startTestServer();
    try {
      const tree = server.app.printPlugins();
      for (const name of ['service', 'security-headers', 'errors', 'auth', 'public', 'v1 tokens', 'v1 account', 'v1 audit', 'v1 rotations', 'tokens page', 'web-sessions']) expect(tree).toContain(name);
    } finally {
      await server.close();
    }
  });
});
