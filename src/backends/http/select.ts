import { UsageError } from '../../core/errors.js';
import { loadCredential } from '../../config/profiles-credentials.js';
import { readProfileConfig, type Env, type ProfileConfig } from '../../config/profiles-read.js';
import { DEFAULT_HTTP_TIMEOUT_MS, HttpBackend, parseServerUrl } from './http-backend.js';

function timeoutFrom(env: Env): number {
  const n = Number(env.TOKENCTL_HTTP_TIMEOUT_MS);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_HTTP_TIMEOUT_MS;
}

const ENV_FIX = 'TOKENCTL_ADMIN_KEY (from your environment, not a saved login) must be an admin credential of this service: set it to a valid one';

/**
 * The HTTP backend when one is selected: TOKENCTL_SERVER + TOKENCTL_ADMIN_KEY (CI, no saved profile), else the
 * profile's saved server. Null: the profile uses the local store. `config`: the saved profiles, when the caller
 * has read them already.
 */
export function httpBackendFor(env: Env, profile: string, config: () => ProfileConfig = () => readProfileConfig(env)): HttpBackend | null {
  if (env.TOKENCTL_SERVER) {
    const baseUrl = parseServerUrl(env.TOKENCTL_SERVER, env);
    const key = env.TOKENCTL_ADMIN_KEY?.trim();
    if (!key) throw new UsageError('TOKENCTL_SERVER is set but TOKENCTL_ADMIN_KEY is not; set both (CI), or unset TOKENCTL_SERVER and use tokenctl login');
    // No login to repeat: the messages say what to do with the variable instead.
    return new HttpBackend({ baseUrl, credential: async () => key, loginHint: 'tokenctl login', credentialFix: ENV_FIX, timeoutMs: timeoutFrom(env) });
  }
  const saved = config().profiles[profile];
  if (!saved) return null;
  const baseUrl = parseServerUrl(saved.server, env);
  let cached: Promise<string | undefined> | undefined;
  return new HttpBackend({
    baseUrl,
    credential: () => (cached ??= loadCredential({ env }, profile, saved.credentialStore)),
    loginHint: `tokenctl login --server ${baseUrl}${profile === 'default' ? '' : ` --profile ${profile}`}`,
    timeoutMs: timeoutFrom(env),
  });
}
