/** tokenctl's own credentials: a child process started by tokenctl never inherits them. */
export const CREDENTIAL_VARIABLES = ['TOKENCTL_MASTER_KEY', 'TOKENCTL_ADMIN_KEY', 'TOKENCTL_SERVER_KEY'] as const;

/** The environment for a child process: ours, less our credentials, plus what the child is meant to get. */
export function childEnvironment(env: Record<string, string | undefined>, extra: Record<string, string>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const name of CREDENTIAL_VARIABLES) delete out[name];
  return { ...out, ...extra };
}
