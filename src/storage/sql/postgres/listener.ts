import type { Sql } from 'postgres';
import type { ChangeListener } from '../../service-port.js';
import type { PrimaryDatabase } from './hosts.js';

/** The channels replicas listen on. Payloads: an account id; `<until ms> <address>`. */
export const CHANGES_CHANNEL = 'tokenctl_changes';
export const BLOCKS_CHANNEL = 'tokenctl_blocks';

/** The listener's heartbeat: how often, and how long it may take before the connection counts as lost. */
const HEARTBEAT_MS = 1_000;
const HEARTBEAT_TIMEOUT_MS = 1_500;

/** What the connection a replica listens on reports: notifications, and its own loss. */
interface ListenerEvents {
  onnotify(channel: string, payload: string): void;
  onclose(): void;
}

/**
 * Listens for changes on a connection of its own, on the primary (LISTEN cannot run on a standby), and listens again
 * after that connection is lost (every second until the database answers: postgres.js re-subscribes once, and gives
 * up if the database is still away), telling `connected` each time so that the caller reads everything again. A
 * heartbeat every second tells whether it still answers (a connection that died without a word closes only when TCP
 * keep-alive gives up, minutes later): `alive` says so at once, for readiness, never asking the database while a
 * health check waits. `run` bounds each attempt like every storage operation.
 */
export function listenForChanges(
  db: PrimaryDatabase,
  run: (fn: () => Promise<void>) => Promise<void>,
  listener: ChangeListener,
): { alive(): boolean; close(): Promise<void> } {
  let listening = false;
  let closed = false;
  let attempting = false;
  let beating = false;
  let lastAnswer = -Infinity;
  let sql: Sql | null = null;
  const lost = (connection: Sql) => {
    if (closed || sql !== connection) return;
    listening = false;
    sql = null;
    void connection.end({ timeout: 0 }).catch(() => undefined);
    db.suspect(); // the primary may have changed (or be gone)
    listener.disconnected();
    void attempt();
  };
  const events: ListenerEvents = {
    onnotify: (channel, payload) => {
      if (channel === CHANGES_CHANNEL) listener.changed(payload);
      else if (channel === BLOCKS_CHANNEL) {
        const space = payload.indexOf(' ');
        const until = Number(payload.slice(0, space));
        if (space > 0 && Number.isFinite(until)) listener.blocked(payload.slice(space + 1), until);
      }
    },
    onclose: () => {
      if (listening && sql) lost(sql);
    },
  };
  const attempt = async () => {
    if (closed || listening || attempting) return;
    attempting = true;
    let connection: Sql | null = null;
    try {
      // Bounded like every storage operation: an attempt that never settles must not stop the next ones.
      await run(async () => {
        // Named, so that an operator (and the tests) can tell it from the pool's sessions in pg_stat_activity.
        connection = await db.single({
          max: 1,
          idle_timeout: null,
          max_lifetime: null,
          onnotify: events.onnotify,
          onclose: events.onclose,
          connection: { application_name: 'tokenctl listener' },
        } as never);
        await connection`LISTEN tokenctl_changes`;
        await connection`LISTEN tokenctl_blocks`;
      });
      if (closed) return void (await connection!.end({ timeout: 0 }).catch(() => undefined));
      sql = connection;
      lastAnswer = performance.now();
      listening = true;
      listener.connected();
    } catch {
      // The database is away: the next attempt is in a second. A connection that failed is made anew.
      void (connection as Sql | null)?.end({ timeout: 0 }).catch(() => undefined);
    } finally {
      attempting = false;
    }
  };
  const heartbeat = async () => {
    if (!listening || beating || closed || !sql) return;
    beating = true;
    const connection = sql;
    let timer: NodeJS.Timeout | undefined;
    try {
      const beat = connection`SELECT 1`;
      beat.catch(() => undefined); // failing after the timeout, it must not be an unhandled rejection
      await Promise.race([beat, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no answer')), HEARTBEAT_TIMEOUT_MS)))]);
      if (sql === connection) lastAnswer = performance.now();
    } catch {
      lost(connection);
    } finally {
      clearTimeout(timer);
      beating = false;
    }
  };
  const timer = setInterval(() => {
    void heartbeat();
    void attempt();
  }, HEARTBEAT_MS);
  timer.unref();
  void attempt();
  return {
    alive: () => listening && performance.now() - lastAnswer < HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS + 500,
    close: async () => {
      closed = true;
      clearInterval(timer);
      await sql?.end({ timeout: 1 }).catch(() => undefined);
    },
  };
}
