import path from 'node:path';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli.js';
import { createDeps, type Deps } from '../../../src/deps.js';
import { POLICY } from '../../../src/core/tokens.js';
import { accountSchema } from '../../../src/api/wire.js';
import { captureIO } from '../../../src/ui/io.js';
import { initServiceAccount, setAccountFeatures, showAccount } from '../../../src/tokens/principals.js';
import { ROOT } from '../../helpers/bin.js';
import { scriptedPrompter } from '../../helpers/deps.js';
import { tempHome } from '../../helpers/env.js';
import { call, startTestServer, type TestServer } from '../../helpers/server.js';

let server: TestServer;
afterEach(async () => server?.close());

/** The real CLI in-process against the in-process service (TOKENCTL_SERVER), or on its data directory (`server ...`). */
async function run(env: Record<string, string>, argv: string[]) {
  const io = captureIO({ tty: false });
  const base = await createDeps(env);
  const deps: Deps = { ...base, io, clock: server.clock, prompter: () => scriptedPrompter([]), backend: base.backend };
  const code = await runCli(argv, deps);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

const operatorEnv = () => ({ TOKENCTL_HOME: tempHome(), TOKENCTL_KEYCHAIN: 'off', TOKENCTL_SERVER_KEY: server.serverKey });
const dataDir = () => path.join(server.dataDir, 'data');

describe('OneLink is premium on the token service', () => {
  it('server init makes an account without it; create --type onelink is refused with 403 / exit 7, saying it is premium', async () => {
    server = await startTestServer();
    // What `tokenctl server init` does: no premium feature unless the operator enables one.
    const init = await initServiceAccount(server.storage, { name: 'acme', defaultToken: true }, server.clock);
    expect(init.account.features).toEqual([]);
    await server.accounts.caughtUp(init.account.id); // written on the service's own connection, as the service does
    const credential = init.credential;

    const refused = await call(server, 'POST', '/v1/tokens', { credential, json: { type: 'onelink', name: 'links' } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.kind).toBe('permission');
    expect(refused.body.error.message).toMatch(/^OneLink API tokens are a premium feature, and account 'acme' does not have it; .*--account acme --enable onelink$/);
    // Other types, the listing and the review are unaffected.
    expect((await call(server, 'POST', '/v1/tokens', { credential, json: { type: 's2s', name: 'events' } })).status).toBe(201);
    expect((await call(server, 'GET', '/v1/tokens', { credential })).status).toBe(200);
    expect((await call(server, 'GET', '/v1/audit/events', { credential })).status).toBe(200);
    // Nothing was created, nothing recorded for the refusal.
    const tokens = await server.accounts.tokens({ id: 'x', accountId: init.account.id, name: 'admin', role: 'admin' }).list();
    expect(tokens.map((t) => t.type).sort()).toEqual(['api', 's2s']);

    // Through the CLI: exit 7, one line, nothing on stdout.
    const ci = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    const cli = await run(ci, ['create', '--type', 'onelink', '--name', 'links']);
    expect(cli.code).toBe(7);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.trim().split('\n')).toHaveLength(1);
    expect(cli.stderr).toMatch(/premium feature/);
    expect(cli.stderr).not.toMatch(/only admins/);
    const list = await run(ci, ['list', '--json']);
    expect(list.code).toBe(0);
    const audit = await run(ci, ['audit', '--json']);
    expect(audit.code).toBe(0);
  });

  it('whoami shows the account features; the wire schema and api/openapi.yaml agree on the Account shape', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount({ features: [] });
    const before = await call(server, 'GET', '/v1/whoami', { credential });
    expect(before.body.account.features).toEqual([]);
    await setAccountFeatures(server.storage, 'acme', { enable: ['onelink'] }, server.clock);
    const after = await call(server, 'GET', '/v1/whoami', { credential });
    expect(after.body.account.features).toEqual(['onelink']);
    const doc = parse(readFileSync(path.join(ROOT, 'api', 'openapi.yaml'), 'utf8'));
    const documented = doc.components.schemas.Account;
    expect(Object.keys(documented.properties).sort()).toEqual(Object.keys(accountSchema.properties).sort());
    expect([...documented.required].sort()).toEqual([...accountSchema.required].sort());
  });

  it('tokenctl server account shows, enables and disables it; a running service applies it at once', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount({ features: [] });
    const env = operatorEnv();

    const shown = await run(env, ['server', 'account', '--data', dataDir(), '--account', 'acme']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^account\tacme \(acc_\w+\)\ncreated\t\S+\nfeatures\tnone\nsigning\tEdDSA \(key [\w-]+\)\n$/);
    expect(shown.stderr).toMatch(/premium features it does not have: onelink \(enable with: tokenctl server account --data .* --account acme --enable onelink\)/);

    const enabled = await run(env, ['server', 'account', '--data', dataDir(), '--account', 'ACME', '--enable', 'OneLink']);
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(enabled.stdout).toMatch(/features\tonelink\nsigning\tEdDSA \(key [\w-]+\)\n$/);
    expect(enabled.stderr).toMatch(/Enabled onelink for account 'acme'/);
    // The running service sees it on the next request.
    const created = await call(server, 'POST', '/v1/tokens', { credential, json: { type: 'onelink', name: 'links' } });
    expect(created.status).toBe(201);

    const again = await run(env, ['--json', 'server', 'account', '--data', dataDir(), '--account', 'acme', '--enable', 'onelink']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ account: { name: 'acme', features: ['onelink'] } });
    expect(again.stderr).toMatch(/already enabled/);

    const disabled = await run(env, ['server', 'account', '--data', dataDir(), '--account', 'acme', '--disable', 'onelink']);
    expect(disabled.code).toBe(0);
    expect(disabled.stderr).toMatch(/Disabled onelink for account 'acme': no new onelink tokens; the ones it has keep working/);
    expect((await showAccount(server.storage, 'acme')).features).toEqual([]);
    // Its existing OneLink token is still listed and retrievable (list and get are unaffected).
    server.clock.advance(POLICY.pendingMs);
    const ci = { TOKENCTL_HOME: tempHome(), TOKENCTL_SERVER: server.url, TOKENCTL_ADMIN_KEY: credential };
    expect((await run(ci, ['get', 'links'])).stdout).toBe(created.body.value);

    const bad = await run(env, ['server', 'account', '--data', dataDir(), '--account', 'acme', '--enable', 'gold']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown feature 'gold'; the features are: onelink/);
    const both = await run(env, ['server', 'account', '--data', dataDir(), '--account', 'acme', '--enable', 'onelink', '--disable', 'onelink']);
    expect(both.code).toBe(2);
    const missing = await run(env, ['server', 'account', '--data', dataDir(), '--account', 'nobody']);
    expect(missing.code).toBe(3);
  });

  it('a rotation of a OneLink token needs the feature too; its other steps and other types do not', async () => {
    server = await startTestServer();
    const { credential } = await server.initAccount({ features: ['onelink'] });
    const ol = await call(server, 'POST', '/v1/tokens', { credential, json: { type: 'onelink', name: 'links' } });
    expect(ol.status).toBe(201);
    const started = await call(server, 'POST', '/v1/rotations', { credential, json: { ref: 'links' } });
    expect(started.status).toBe(201);
    await setAccountFeatures(server.storage, 'acme', { disable: ['onelink'] }, server.clock);
    // The rotation already under way can still finish: it creates nothing.
    expect((await call(server, 'POST', `/v1/rotations/${started.body.rotation.id}/deliver`, { credential, json: { delivery: 'stdout' } })).status).toBe(200);
    server.clock.advance(POLICY.pendingMs);
    const done = await call(server, 'POST', `/v1/rotations/${started.body.rotation.id}/complete`, { credential, json: { confirmation: POLICY.deletePhrase } });
    expect(done.status).toBe(200);
    // A new one would create a OneLink replacement: refused, nothing created.
    const replacement = started.body.replacement.token.name as string;
    const refused = await call(server, 'POST', '/v1/rotations', { credential, json: { ref: replacement } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/premium feature/);
    expect((await call(server, 'GET', '/v1/rotations', { credential })).body.rotations).toHaveLength(1);
    expect((await call(server, 'POST', '/v1/rotations', { credential, json: { ref: 'default' } })).status).toBe(201);
    // Deleting a OneLink token is never refused.
    expect((await call(server, 'DELETE', `/v1/tokens/${encodeURIComponent(replacement)}`, { credential, json: { confirmation: POLICY.deletePhrase } })).status).toBe(200);
  });
});
