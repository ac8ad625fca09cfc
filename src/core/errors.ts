/**
 * Every failure a user can meet is one of these. Each error has a kind, and the kinds map to exit codes in
 * ONE table (EXIT_CODES). Messages say what happened and what to do next, and never contain a token value.
 */
export const EXIT_CODES = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  pending: 5,
  policy: 6,
  permission: 7,
  unavailable: 8,
  data: 9,
  cancelled: 10,
} as const;

export type ErrorKind = Exclude<keyof typeof EXIT_CODES, 'ok'>;

export class TokenctlError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

export class UsageError extends TokenctlError {
  constructor(message: string) {
    super('usage', message);
  }
}

export class TokenNotFoundError extends TokenctlError {
  constructor(message: string) {
    super('notFound', message);
  }
}

export class StoreNotInitialisedError extends TokenctlError {
  /**
   * `profile`: the profile the command used, when the caller knows it; a profile other than default is named in the
   * command to run (`tokenctl --profile staging init`), since a bare `tokenctl init` sets up another account.
   */
  constructor(
    readonly where: string,
    readonly profile?: string,
    /** How the user runs tokenctl (`npx tokenctl` through npx). */
    program = 'tokenctl',
  ) {
    super('notFound', `no account is set up in ${where}; create one with: ${program} ${profile !== undefined && profile !== 'default' ? `--profile ${profile} ` : ''}init`);
  }
}

export class TokenLimitReachedError extends TokenctlError {
  constructor(message: string) {
    super('conflict', message);
  }
}

export class NameTakenError extends TokenctlError {
  /** `existing`: the live token's name as it is stored; `asked`: the name given, which differs at most in case. */
  constructor(existing: string, asked: string = existing) {
    super(
      'conflict',
      existing === asked
        ? `a token named '${existing}' already exists; choose another name (names ignore case)`
        : `'${asked}' is taken: names ignore case, and a token named '${existing}' already exists; choose another name`,
    );
  }
}

export class AlreadyInitialisedError extends TokenctlError {
  constructor(where: string) {
    super('conflict', `an account already exists in ${where}; use it as it is, or pick another --profile`);
  }
}

export class TokenPendingError extends TokenctlError {
  constructor(message: string) {
    super('pending', message);
  }
}

export class PolicyViolationError extends TokenctlError {
  constructor(message: string) {
    super('policy', message);
  }
}

export class PermissionDeniedError extends TokenctlError {
  constructor(message: string) {
    super('permission', message);
  }
}

export class BackendUnavailableError extends TokenctlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}

/**
 * The service's storage cannot serve this request now (locked by another process, disk full, unwritable, corrupt).
 * Nothing was changed. The service answers 503, with Retry-After when `retryAfterSeconds` is set.
 */
export class StorageUnavailableError extends BackendUnavailableError {
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

export class StoreDataError extends TokenctlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('data', message, options);
  }
}

export class CancelledError extends TokenctlError {
  constructor(message = 'cancelled; nothing was changed') {
    super('cancelled', message);
  }
}

export function exitCodeFor(error: unknown): number {
  return error instanceof TokenctlError ? error.exitCode : EXIT_CODES.internal;
}
