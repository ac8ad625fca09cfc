import { SERVICE_CLOCK_HEADER } from '../../../api/wire.js';
import type { Clock } from '../../../core/clock.js';
import { toTokenView, type TokenRecord, type TokenView } from '../../../core/tokens.js';
import type { ServiceStorage } from '../../../storage/service-port.js';
import type { Accounts } from '../../accounts.js';
import type { TokenIndex } from '../../memory/token-index.js';
import type { Webhooks } from '../../notify/webhooks.js';
import type { UsageRecorder } from '../../usage/recorder.js';
import type { UsageReports } from '../../usage/usage.js';
import type { Principal } from '../../../tokens/principals.js';
import { shared } from './shared.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The token use cases on a principal's account (accounts.ts). */
    accounts: Accounts;
    /** What the service keeps in memory: public signing keys, readiness (memory/token-index.ts). */
    memory: TokenIndex;
    /** The service's storage (the page's sessions). */
    storage: ServiceStorage;
    clock: Clock;
    /** A token as the API shows it, now, with a last use not yet written to storage (usage/recorder.ts). */
    tokenView(token: TokenRecord): TokenView;
    /** Who still depends on a token: usage as the API and the page show it (usage/usage.ts). */
    usage: UsageReports;
    /**
     * A token's value handed to a principal (the API's reveal, the Tokens page's Copy): the use case, then recorded as a
     * retrieval (who holds the value, from which address), in one place for both doors.
     */
    revealValue(principal: Principal, ref: string, opts: { allowPending: boolean }, address: string): Promise<{ token: TokenRecord; value: string }>;
    /** The account's webhook endpoints (notify/webhooks.ts). */
    webhooks: Webhooks;
  }
}

/** What the routes use of the service, decorated once onto the app (fastify's own pattern: fastify/demo). */
export const serviceDecorations = shared<{
  accounts: Accounts;
  memory: TokenIndex;
  storage: ServiceStorage;
  clock: Clock;
  recorder: UsageRecorder;
  usage: UsageReports;
  webhooks: Webhooks;
}>(
  'service',
  async (app, { accounts, memory, storage, clock, recorder, usage, webhooks }) => {
    app.decorate('accounts', accounts);
    app.decorate('usage', usage);
    app.decorate('revealValue', async (principal: Principal, ref: string, opts: { allowPending: boolean }, address: string) => {
      const revealed = await accounts.tokens(principal).reveal(ref, opts);
      // Usage of the retrieval kind (batched like introspection's); not a use: lastUsedAt does not move.
      recorder.recordRetrieval(revealed.token.id, clock.now().getTime(), principal, address);
      return revealed;
    });
    app.decorate('webhooks', webhooks);
    app.decorate('memory', memory);
    app.decorate('storage', storage);
    app.decorate('clock', clock);
    // Every answer says the service's time: clients show statuses by it (api/wire.ts SERVICE_CLOCK_HEADER).
    app.addHook('onRequest', (_request, reply, done) => {
      reply.header(SERVICE_CLOCK_HEADER, clock.now().toISOString());
      done();
    });
    app.decorate('tokenView', (t: TokenRecord) => {
      const unflushed = recorder.peek(t.id);
      const record = unflushed && (t.lastUsedAt === null || t.lastUsedAt < unflushed) ? { ...t, lastUsedAt: unflushed } : t;
      return toTokenView(record, clock.now());
    });
  },
);
