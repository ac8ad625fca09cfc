import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { PermissionDeniedError, UsageError } from '../core/errors.js';
import { profileDir, tokenctlHome, validateProfileName } from '../config/paths.js';
import { renderJson } from '../ui/render.js';
import { safeText } from '../ui/sanitize.js';
import { examples, globalsOf, success, warn } from './shared.js';

/** Header-safe and plausibly a credential: printable ASCII, no spaces, not absurdly long. */
function checkCredentialText(text: string): string {
  const credential = text.trim();
  if (credential === '') throw new UsageError('no credential given; paste it at the prompt, or pipe it in: tokenctl login --server <url> < admin.key');
  if (!/^[\x21-\x7e]{8,256}$/.test(credential)) {
    throw new UsageError('that does not look like a credential (8 to 256 printable characters, no spaces); nothing was saved');
  }
  return credential;
}

export function registerLogin(program: Command, deps: Deps): void {
  const cmd = program
    .command('login')
    .description('save a token service and its admin credential in a profile (credential from a prompt or stdin, never argv)')
    .requiredOption('--server <url>', 'the service URL, e.g. https://tokens.example.com or http://127.0.0.1:8787')
    .action(async (opts: { server: string }, self: Command) => {
      const globals = globalsOf(self);
      const profile = validateProfileName(globals.profile);
      const { HttpBackend, parseServerUrl } = await import('../backends/http/http-backend.js');
      const baseUrl = parseServerUrl(opts.server, deps.env);
      const credential = checkCredentialText(
        deps.io.stdinIsTTY ? await deps.prompter().secret(`Admin credential for ${baseUrl}`) : await deps.io.readStdin(),
      );
      const loginHint = `tokenctl login --server ${baseUrl}${profile === 'default' ? '' : ` --profile ${profile}`}`;
      const who = await new HttpBackend({ baseUrl, credential: async () => credential, loginHint }).whoami();
      if (who.principal.role !== 'admin') {
        throw new PermissionDeniedError(
          `only admins may manage tokens; this credential belongs to '${safeText(who.principal.name)}' with role '${safeText(who.principal.role)}'. Nothing was saved`,
        );
      }
      const { saveCredential } = await import('../config/profiles-credentials.js');
      const { saveServerProfile } = await import('../config/profiles.js');
      const saved = await saveCredential({ env: deps.env, warn: (m) => warn(deps, m) }, profile, credential);
      await saveServerProfile(deps.env, profile, {
        server: baseUrl,
        credentialStore: saved.store,
        account: { id: who.account.id, name: who.account.name },
        principal: { id: who.principal.id, name: who.principal.name, role: who.principal.role },
        loggedInAt: deps.clock.now().toISOString(),
      });
      const local = profileDir(tokenctlHome(deps.env), profile);
      if (existsSync(path.join(local, 'store.json'))) {
        warn(deps, `profile '${profile}' also has a local store in ${local}; it is left as it is, but this profile now uses the token service`);
      }
      if (globals.json) {
        deps.io.out(renderJson({ profile, server: baseUrl, account: who.account, principal: who.principal, credentialStore: saved.store }));
      }
      success(
        deps,
        `Logged in to ${baseUrl} as admin '${safeText(who.principal.name)}' of account '${safeText(who.account.name)}'; ` +
          `profile '${profile}' now uses this service (credential in ${saved.where})`,
      );
    });
  examples(cmd, [
    'tokenctl login --server https://tokens.example.com',
    'tokenctl login --server http://127.0.0.1:8787 --profile local-service < admin.key',
  ]);
}
