import { StorageUnavailableError, TokenctlError } from '../../../core/errors.js';

/**
 * PostgreSQL's faults, named: what the service answers (503, never 500, with what the operator must fix), and which
 * of them may mean that the primary is now another host (or none).
 */

// ENOENT and EACCES: a Unix socket that is not there (the server is down) or not ours.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'ENETUNREACH', 'ECONNABORTED', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED']);

/** A lost or refused connection, or a backend that was terminated (the 08 and 57P classes). */
export function isConnectionFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'));
}

/** A statement refused because its host is a standby (read-only), or a recovery under way. */
export function isReadOnlyFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '25006' || (code === '55000' && /recovery/i.test(String((error as { message?: unknown }).message)));
}

/** A fault after which the primary may be another host (or none): connections, read-only refusals, silence. */
export function mayMeanNewPrimary(error: unknown): boolean {
  return isConnectionFault(error) || isReadOnlyFault(error) || error instanceof DeadlineError;
}

/** The operation's deadline passed (the database did not answer in time). */
export class DeadlineError extends StorageUnavailableError {}

/**
 * A database fault, named: the service answers 503 (never 500), nothing was changed (PostgreSQL rolled the
 * transaction back). Anything else, a constraint the rules should have prevented, stays a bug. No server address or
 * path in the message: clients read it.
 */
export function namedPostgresFault(error: unknown): unknown {
  if (error instanceof TokenctlError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return error;
  const fault = (message: string, retryAfterSeconds: number) => new StorageUnavailableError(message, { cause: error, retryAfterSeconds });
  if (isConnectionFault(error)) return fault('the database cannot be reached; nothing was changed, retry shortly', 2);
  if (code === '40001' || code === '40P01' || code === '55P03' || code === '57014' || code === '25P03') return fault('the database is busy; nothing was changed, retry', 1);
  if (isReadOnlyFault(error)) return fault('the database has no primary to write to now (only a standby answers: a failover under way?); nothing was changed, retry shortly', 2);
  // Refused at connection: what the operator must fix in TOKENCTL_DATABASE_URL or the database (no URL in the message).
  if (code === '3D000') return fault('the database named in TOKENCTL_DATABASE_URL does not exist (yet, on this host); create it (createdb), or fix the URL', 5);
  if (code === '28P01' || code === '28000') return fault('PostgreSQL refused the user or password of TOKENCTL_DATABASE_URL; fix them, or the server\'s pg_hba.conf', 5);
  if (code === '42501') return fault('the database user may not do this (insufficient privilege); the service\'s user must own its database', 5);
  if (code === '53100') return fault('the disk holding the database is full; nothing was changed. Its operator must free some space', 30);
  if (code.startsWith('53')) return fault(`the database is out of resources (${code}); nothing was changed, retry`, 5);
  return error;
}

