/**
 * Principals' roles, per the spec ("Only admins can view and manage tokens. Account users and partners have no
 * access"): admins manage tokens, services may only introspect, users and partners see nothing. The one table of
 * who may do what: the API's routes, introspection and the Tokens page's sign-in all ask it.
 */
export const ROLES = ['admin', 'user', 'partner', 'service'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Managing tokens (every /v1/tokens, rotation and audit route, the Tokens page). */
export const ADMIN: readonly Role[] = ['admin'];
/** Introspecting tokens (resource servers, and admins). */
export const INTROSPECTORS: readonly Role[] = ['admin', 'service'];
/** Any principal (whoami). */
export const ANYONE: readonly Role[] = ROLES;

/** Why a principal of `role` is refused something only `allowed` may do (403), in words. */
export function roleRefusal(role: Role, allowed: readonly Role[]): string {
  if (allowed === INTROSPECTORS) return `only service principals and admins may introspect tokens; this credential's role is '${role}'`;
  return `only admins may manage tokens; this credential's role is '${role}'`;
}
