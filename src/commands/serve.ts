import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { UsageError } from '../core/errors.js';
import { CommandExit, examples } from './shared.js';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || !Number.isInteger(n) || n > 65535) throw new UsageError(`--port must be a number from 0 to 65535, not '${text.slice(0, 20)}'`);
  return n;
}

/** TOKENCTL_WEBHOOK_TIMEOUT_MS (tests): one notification attempt's bound, 100 ms to 30 s; default 10 s. */
function parseWebhookTimeout(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 100 || n > 30_000) throw new UsageError(`TOKENCTL_WEBHOOK_TIMEOUT_MS must be a whole number of milliseconds from 100 to 30000, not '${text.slice(0, 20)}'`);
  return n;
}

/**
 * The next SIGINT or SIGTERM. For a server, Ctrl-C means "shut down cleanly", not "cancel a prompt" (the CLI's own
 * handler, which this replaces while the service runs).
 */
function nextSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    process.removeAllListeners('SIGINT');
    const on = (signal: 'SIGINT' | 'SIGTERM') => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(signal);
    };
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

export function registerServe(program: Command, deps: Deps): void {
  const cmd = program
    .command('serve')
    .description('run the token service (HTTP API, introspection, JWKS, the Tokens page) on SQLite (--data) or PostgreSQL (TOKENCTL_DATABASE_URL)')
    .option('--data <dir>', 'the service data directory (SQLite, one machine), made with `tokenctl server init --data`')
    .option('--database <url>', 'PostgreSQL URL (several replicas); default TOKENCTL_DATABASE_URL. Needs TOKENCTL_SERVER_KEY')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '8787')
    .option('--log-level <level>', `request log level on stdout: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--trust-proxy <addresses>', 'comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed')
    .option('--public-url <url>', "the https URL resource servers reach the service at (accounts' issuers, RFC 8414 metadata); default TOKENCTL_PUBLIC_URL")
    .option(
      '--webhook-allow <networks>',
      'networks beyond the public internet that notifications may reach: loopback, private, link-local, addresses or CIDR ranges, comma-separated (env: TOKENCTL_WEBHOOK_ALLOW)',
    )
    .action(async (opts: { data?: string; database?: string; host: string; port: string; logLevel: string; trustProxy?: string; publicUrl?: string; webhookAllow?: string }) => {
      const port = parsePort(opts.port);
      const webhookAllow = (opts.webhookAllow ?? deps.env.TOKENCTL_WEBHOOK_ALLOW ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      const webhookTimeoutMs = parseWebhookTimeout(deps.env.TOKENCTL_WEBHOOK_TIMEOUT_MS);
      if (!(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) throw new UsageError(`--log-level must be one of: ${LOG_LEVELS.join(', ')}`);
      const publicUrl = (await import('../server/public-url.js')).publicUrlFrom(opts.publicUrl, deps.env);
      // The server (fastify, SQLite or PostgreSQL) loads only here: every other command stays fast.
      const { chooseStorage } = await import('../server/storage.js');
      const storage = await chooseStorage(opts, deps.env);
      if (storage.kind === 'sqlite') await (await import('../storage/sql/sqlite/driver.js')).loadSqliteDriver(deps.env); // exit 8 naming what to install, before the server loads
      const { startService, SHUTDOWN_GRACE_MS } = await import('../server/service.js');
      const { logWriter } = await import('../ui/log-writer.js');
      const notice = (line: string) => deps.io.err(`${line}\n`);
      // Request log lines in batches, written asynchronously; what waits is written when the process ends anyway.
      const logs = logWriter(deps.io, { maxDelayMs: 100, maxBytes: 64 * 1024 });
      process.on('exit', logs.flushNow);
      try {
        const service = await startService({
          storage,
          host: opts.host,
          port,
          logLevel: opts.logLevel as LogLevel,
          trustProxy: (opts.trustProxy ?? '')
            .split(',')
            .map((a) => a.trim())
            .filter(Boolean),
          publicUrl,
          webhookAllow,
          webhookTimeoutMs,
          clock: deps.serviceClock ?? deps.clock, // a drill's service runs on from TOKENCTL_NOW
          env: deps.env,
          log: logs,
          notice,
        });
        // The process is the command's: Ctrl-C or SIGTERM stops the service cleanly; a second one, at once.
        const first = await nextSignal();
        notice(`${first}: finishing in-flight requests (at most ${SHUTDOWN_GRACE_MS / 1000} s) and writing last-used times...`);
        const again = await Promise.race([service.stop().then(() => null), nextSignal()]);
        if (again !== null) {
          notice(`${again} again: stopping now, without waiting for in-flight requests`);
          await service.stopNow();
          await logs.flush();
          throw new CommandExit(again === 'SIGINT' ? 130 : 143);
        }
        await logs.flush();
        notice('stopped');
      } finally {
        process.off('exit', logs.flushNow);
        logs.flushNow();
      }
    });
  examples(cmd, [
    'tokenctl serve --data /var/lib/tokenctl',
    'tokenctl serve --data ./data --port 0 --webhook-allow loopback   # any free port; notifications to this machine too',
    'TOKENCTL_DATABASE_URL=postgres://tokenctl@db1,db2/tokenctl TOKENCTL_SERVER_KEY=... tokenctl serve --host 0.0.0.0 --public-url https://tokens.example.com',
  ]);
}
