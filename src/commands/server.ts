import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { isRole, ROLES } from '../core/roles.js';
import { githubAddMaskCommand, isGitHubActions } from '../exec/ci.js';
import { UsageError } from '../core/errors.js';
import { FEATURES, parseFeature, type Feature } from '../core/features.js';
import { toTokenView } from '../core/tokens.js';
import { SIGNING_ALGS, type SigningAlg } from '../core/signing.js';
import type { AccountSigning } from '../tokens/principals.js';
import { renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import path from 'node:path';
import { examples, globalsOf, info, shellWord, success, tokenctlName, warn } from './shared.js';

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',')];

/** The algorithm of API tokens' signing keys, as an option names it (case aside). */
function parseSigningAlg(text: string): SigningAlg {
  const alg = SIGNING_ALGS.find((a) => a.toLowerCase() === text.trim().toLowerCase());
  if (!alg) throw new UsageError(`unknown signing algorithm '${text.slice(0, 20)}'; use one of: ${SIGNING_ALGS.join(', ')}`);
  return alg;
}

type Where = { data?: string; database?: string };

const DATA_HELP = 'the service data directory (SQLite, one machine)';
const DATABASE_HELP = 'PostgreSQL URL (replicas); default TOKENCTL_DATABASE_URL. Needs TOKENCTL_SERVER_KEY';

/** `tokenctl server ...`: administration of a token service's data directory, on the service's machine. */
export function registerServer(program: Command, deps: Deps): void {
  const server = program.command('server').description("administer a token service's data: its SQLite data directory (--data) or its PostgreSQL database");

  /** The service's storage the options name (the driver loaded only now: exit 8 naming what to install). */
  const openStore = async (opts: Where, create: boolean) => {
    const { chooseStorage, openServiceStorage, whereOf } = await import('../server/storage.js');
    const choice = await chooseStorage(opts, deps.env);
    if (choice.kind === 'sqlite') await (await import('../storage/sql/sqlite/driver.js')).loadSqliteDriver(deps.env);
    const opened = await openServiceStorage(choice, deps.env, { create, notice: (m) => deps.io.err(`${m}\n`) });
    return { store: opened.storage, where: whereOf(choice), kind: choice.kind, close: async () => void (await opened.storage.close()) };
  };
  /** How the messages name the store again: `--data <dir>`, or nothing (the environment's database). */
  const again = (opts: Where) => (opts.data !== undefined ? `--data ${shellWord(opts.data)} ` : opts.database !== undefined ? '--database <url> ' : '');

  const migrate = server
    .command('migrate')
    .description('apply the schema migrations a PostgreSQL database lacks (every replica also does at start, under a lock: ten at once migrate once)')
    .option('--database <url>', DATABASE_HELP)
    .action(async (opts: { database?: string }, self: Command) => {
      const globals = globalsOf(self);
      const { chooseStorage } = await import('../server/storage.js');
      const choice = await chooseStorage(opts, deps.env);
      if (choice.kind !== 'postgres') throw new UsageError('server migrate is for PostgreSQL; a SQLite data directory migrates itself when opened');
      const { postgresDatabase } = await import('../storage/sql/postgres/connect.js');
      const { migratePostgres, schemaVersions } = await import('../storage/sql/postgres/migrations.js');
      const { namedPostgresFault } = await import('../storage/sql/postgres/faults.js');
      const database = postgresDatabase(choice.url);
      try {
        const sql = await database.primary().catch((error: unknown) => {
          throw namedPostgresFault(error);
        });
        const before = await schemaVersions(sql);
        if (before.current > before.latest) {
          throw new UsageError(`the database has schema version ${before.current}; this tokenctl knows versions up to ${before.latest}: upgrade tokenctl`);
        }
        await migratePostgres(sql);
        const after = await schemaVersions(sql);
        if (globals.json) deps.io.out(renderJson({ database: choice.location, from: before.current, to: after.current }));
        else if (before.current === after.current) info(deps, `${choice.location} is at schema version ${after.current}, the latest this tokenctl knows: nothing to do`);
        else success(deps, `Migrated ${choice.location} from schema version ${before.current} to ${after.current}`);
      } finally {
        await database.end();
      }
    });
  examples(migrate, [
    'TOKENCTL_DATABASE_URL=postgres://tokenctl@db/tokenctl tokenctl server migrate',
    'tokenctl --json server migrate   # {"database":...,"from":2,"to":3}',
  ]);

  const init = server
    .command('init')
    .description('create an account (and its first admin) in a service data directory; prints the admin credential alone on stdout')
    .option('--data <dir>', `${DATA_HELP}; created 0700 if missing`)
    .option('--database <url>', DATABASE_HELP)
    .option('--account <name>', 'account name', 'default')
    .option('--admin-name <name>', 'name of the first admin principal', 'admin')
    .option('--no-default-token', 'do not create the default API token')
    .option('--signing-alg <alg>', `the algorithm of the account's API tokens: ${SIGNING_ALGS.join(', ')} (ES256 or RS256 for resource servers without EdDSA, such as Apache mod_oauth2)`, 'EdDSA')
    .action(async (opts: Where & { account: string; adminName: string; defaultToken: boolean; signingAlg: string }, self: Command) => {
      const globals = globalsOf(self);
      const signingAlg = parseSigningAlg(opts.signingAlg);
      // Stamped when the command starts, not after the driver and the database have loaded: under a TOKENCTL_NOW
      // drill every process's clock starts at the same instant, and the default token must be active for them all.
      const now = deps.clock.now();
      const { initServiceAccount, publicUrlFrom } = await import('../server/admin.js');
      // The default API token names its issuer: the account's URL when the service's public URL is known.
      const publicUrl = publicUrlFrom(undefined, deps.env);
      const { store, where, kind, close } = await openStore(opts, true);
      try {
        const r = await initServiceAccount(store, { name: opts.account, defaultToken: opts.defaultToken, adminName: opts.adminName, signingAlg }, { now: () => now, nowMs: () => now.getTime() }, publicUrl);
        if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(r.credential));
        if (globals.json) {
          deps.io.out(
            renderJson({
              account: r.account,
              principal: { id: r.admin.id, clientId: r.admin.id, name: r.admin.name, role: r.admin.role },
              credential: r.credential,
              tokens: r.tokens.map((t) => toTokenView(t, now)),
            }),
          );
        } else {
          deps.io.out(`${r.credential}\n`);
        }
        success(deps, `Created account '${safeText(r.account.name)}' (${r.account.id}) with admin '${safeText(r.admin.name)}' in ${where}`);
        for (const t of r.tokens) success(deps, `API token '${safeText(t.name)}' is active.`);
        warn(deps, 'the admin credential is shown only once (on stdout): store it now, e.g. in a password manager');
        const tokenctl = tokenctlName(deps.env);
        info(
          deps,
          kind === 'sqlite'
            ? `Next: ${tokenctl} serve --data ${shellWord(path.resolve(opts.data!))} (it prints the URL it listens on), then on an admin machine: tokenctl login --server <that URL>`
            : `Next: ${tokenctl} serve on each replica (the same TOKENCTL_DATABASE_URL and TOKENCTL_SERVER_KEY), then on an admin machine: tokenctl login --server <its URL>`,
        );
      } finally {
        await close();
      }
    });
  examples(init, ['tokenctl server init --data /var/lib/tokenctl --account acme > admin.key', 'tokenctl serve --data /var/lib/tokenctl']);

  const add = server
    .command('add-principal')
    .description('add a principal (admin, user, partner or service) to an account; prints its credential alone on stdout')
    .option('--data <dir>', DATA_HELP)
    .option('--database <url>', DATABASE_HELP)
    .requiredOption('--account <name>', 'the account')
    .requiredOption('--role <role>', `role: ${ROLES.join(', ')} (admins manage tokens; services may only introspect)`)
    .requiredOption('--name <name>', 'a name for the principal, unique in the account')
    .action(async (opts: Where & { account: string; role: string; name: string }, self: Command) => {
      const globals = globalsOf(self);
      const role = opts.role.trim().toLowerCase();
      if (!isRole(role)) throw new UsageError(`unknown role '${opts.role.slice(0, 20)}'; use one of: ${ROLES.join(', ')}`);
      const { addPrincipal } = await import('../server/admin.js');
      const { store, close } = await openStore(opts, false);
      try {
        const { principal, credential } = await addPrincipal(store, opts.account, role, opts.name, deps.clock);
        if (isGitHubActions(deps.env)) deps.io.err(githubAddMaskCommand(credential));
        deps.io.out(
          globals.json ? renderJson({ principal: { id: principal.id, clientId: principal.id, name: principal.name, role: principal.role }, credential }) : `${credential}\n`,
        );
        success(deps, `Added ${principal.role} '${safeText(principal.name)}' (${principal.id}) to account '${safeText(opts.account)}'`);
        if (principal.role === 'service' || principal.role === 'admin') {
          info(deps, `OAuth client id: ${principal.id}; client secret: the credential on stdout (introspection with client_secret_basic or client_secret_post, or the credential alone as a bearer token)`);
        }
        warn(deps, 'the credential is shown only once (on stdout): hand it over securely');
      } finally {
        await close();
      }
    });
  const principals = server
    .command('principals')
    .description("list an account's principals (ids, which are their OAuth client ids, names, roles; never credentials)")
    .option('--data <dir>', DATA_HELP)
    .option('--database <url>', DATABASE_HELP)
    .requiredOption('--account <name>', 'the account')
    .action(async (opts: Where & { account: string }, self: Command) => {
      const globals = globalsOf(self);
      const { listPrincipals } = await import('../server/admin.js');
      const { store, close } = await openStore(opts, false);
      try {
        const rows = (await listPrincipals(store, opts.account)).map(({ accountId: _a, ...p }) => p);
        // A principal's id is its OAuth client id (introspection's client_secret_basic / client_secret_post).
        if (globals.json) deps.io.out(renderJson(rows.map((p) => ({ id: p.id, clientId: p.id, name: p.name, role: p.role, createdAt: p.createdAt }))));
        else {
          for (const p of rows) deps.io.out(`${p.id}\t${safeText(p.name)}\t${p.role}\t${p.createdAt}\n`);
          if (rows.length > 0) info(deps, 'the first column, the principal id, is also its OAuth client id (introspection with client_secret_basic or client_secret_post)');
        }
      } finally {
        await close();
      }
    });
  examples(principals, [
    'tokenctl server principals --data /var/lib/tokenctl --account acme',
    'tokenctl --json server principals --data /var/lib/tokenctl --account acme',
  ]);

  const remove = server
    .command('remove-principal')
    .description('remove a principal: its credential stops working (within seconds on a running service)')
    .option('--data <dir>', DATA_HELP)
    .option('--database <url>', DATABASE_HELP)
    .requiredOption('--account <name>', 'the account')
    .requiredOption('--name <name>', 'the principal (name or id)')
    .action(async (opts: Where & { account: string; name: string }) => {
      const { removePrincipal } = await import('../server/admin.js');
      const { store, close } = await openStore(opts, false);
      try {
        const p = await removePrincipal(store, opts.account, opts.name, deps.clock);
        success(deps, `Removed ${p.role} '${safeText(p.name)}' (${p.id}) from account '${safeText(opts.account)}'; its credential no longer works`);
      } finally {
        await close();
      }
    });
  examples(remove, [
    'tokenctl server remove-principal --data /var/lib/tokenctl --account acme --name alice   # e.g. a leaked credential',
    'tokenctl server remove-principal --data /var/lib/tokenctl --account acme --name prn_4f3k...',
  ]);

  const account = server
    .command('account')
    .description("show an account and its premium features; --enable/--disable turn a feature on or off (OneLink is premium)")
    .option('--data <dir>', DATA_HELP)
    .option('--database <url>', DATABASE_HELP)
    .requiredOption('--account <name>', 'the account')
    .option('--enable <feature>', `turn a premium feature on (${FEATURES.join(', ')}); repeatable`, collect)
    .option('--disable <feature>', `turn a premium feature off (${FEATURES.join(', ')}); existing tokens stay; repeatable`, collect)
    .option('--signing-alg <alg>', `sign the account's new API tokens with ${SIGNING_ALGS.join(', ')} from now on (a new key; tokens already issued keep verifying)`)
    .action(async (opts: Where & { account: string; enable?: string[]; disable?: string[]; signingAlg?: string }, self: Command) => {
      const globals = globalsOf(self);
      const enable = (opts.enable ?? []).filter((f) => f.trim() !== '').map(parseFeature);
      const disable = (opts.disable ?? []).filter((f) => f.trim() !== '').map(parseFeature);
      const both = enable.filter((f) => disable.includes(f));
      if (both.length > 0) throw new UsageError(`--enable and --disable both name ${both.join(', ')}; choose one`);
      const signingAlg = opts.signingAlg === undefined ? undefined : parseSigningAlg(opts.signingAlg);
      const { accountSigning, setAccountFeatures, setSigningAlgorithm, showAccount } = await import('../tokens/principals.js');
      const { store, close } = await openStore(opts, false);
      try {
        let shown: { id: string; name: string; createdAt: string; features: readonly Feature[] };
        let signing: AccountSigning;
        if (signingAlg !== undefined) {
          const r = await setSigningAlgorithm(store, opts.account, signingAlg, deps.clock);
          signing = r;
          if (!r.changed) info(deps, `API tokens of account '${safeText(opts.account)}' are already signed with ${signingAlg}`);
          else {
            success(deps, `New API tokens of account '${safeText(opts.account)}' are signed with ${signingAlg} (key ${r.kid}; a running service uses it at once)`);
            info(deps, `tokens issued before keep verifying with their ${r.before} key, which stays in the account's JWKS; to move every client to ${signingAlg}, rotate them`);
          }
        } else signing = await accountSigning(store, opts.account);
        if (enable.length === 0 && disable.length === 0) {
          shown = await showAccount(store, opts.account);
        } else {
          const r = await setAccountFeatures(store, opts.account, { enable, disable }, deps.clock);
          shown = { ...r.account, features: r.features };
          const name = safeText(r.account.name);
          for (const f of enable) {
            if (r.before.includes(f)) info(deps, `${f} was already enabled for account '${name}'`);
            else success(deps, `Enabled ${f} for account '${name}': its admins can create ${f} tokens (a running service applies it at once)`);
          }
          for (const f of disable) {
            if (!r.before.includes(f)) info(deps, `${f} was not enabled for account '${name}'`);
            else success(deps, `Disabled ${f} for account '${name}': no new ${f} tokens; the ones it has keep working until deleted`);
          }
        }
        if (globals.json) {
          deps.io.out(
            renderJson({
              account: { id: shown.id, name: shown.name, createdAt: shown.createdAt, features: shown.features, signingAlg: signing.alg, signingKeys: signing.keys },
            }),
          );
        } else {
          const missing = FEATURES.filter((f) => !shown.features.includes(f));
          deps.io.out(`account\t${safeText(shown.name)} (${shown.id})\ncreated\t${shown.createdAt}\nfeatures\t${shown.features.length > 0 ? shown.features.join(', ') : 'none'}\n`);
          const older = signing.keys.length - 1;
          deps.io.out(`signing\t${signing.alg} (key ${signing.kid}${older > 0 ? `; ${older} older key${older > 1 ? 's still verify' : ' still verifies'}` : ''})\n`);
          if (missing.length > 0 && enable.length === 0 && disable.length === 0 && signingAlg === undefined) {
            info(deps, `premium features it does not have: ${missing.join(', ')} (enable with: tokenctl server account ${again(opts)}--account ${shellWord(shown.name)} --enable ${missing[0]})`);
          }
        }
      } finally {
        await close();
      }
    });
  examples(account, [
    'tokenctl server account --data /var/lib/tokenctl --account acme',
    'tokenctl server account --data /var/lib/tokenctl --account acme --enable onelink',
    'tokenctl server account --data /var/lib/tokenctl --account acme --signing-alg ES256   # for resource servers without EdDSA',
  ]);

  examples(add, [
    'tokenctl server add-principal --data /var/lib/tokenctl --account acme --role service --name api-gateway > gateway.key',
    'tokenctl server add-principal --data /var/lib/tokenctl --account acme --role admin --name alice',
  ]);
}
