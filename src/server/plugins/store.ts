import { SERVICE_CLOCK_HEADER } from '../../api/wire.js';
import type { Clock } from '../../core/clock.js';
import { toTokenView, type TokenRecord, type TokenView } from '../../core/tokens.js';
import type { LastUsedRecorder } from '../last-used.js';
import type { ServiceStore } from '../service-store.js';
import { shared } from './shared.js';

declare module 'fastify' {
  interface FastifyInstance {
    store: ServiceStore;
    clock: Clock;
    /** A token as the API shows it, now, with a last use not yet written to storage (last-used.ts). */
    tokenView(token: TokenRecord): TokenView;
  }
}

export const storeDecorations = shared<{ store: ServiceStore; clock: Clock; recorder: LastUsedRecorder }>(
  'store',
  async (app, { store, clock, recorder }) => {
    app.decorate('store', store);
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
