/**
 * Principals' roles, per the spec ("Only admins can view and manage tokens. Account users and partners have no
 * access"): admins manage tokens, services may only introspect, users and partners see nothing.
 */
export const ROLES = ['admin', 'user', 'partner', 'service'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
