import { EXIT_CODES } from '../core/errors.js';
import { renderFitted } from '../ui/columns.js';

/**
 * `tokenctl help <topic>`: the tables of the README's "Exit codes" and "Environment", where gh users look for
 * them. Loaded only for `help`.
 */
export const HELP_TOPICS = ['environment', 'exit-codes'] as const;
export type HelpTopic = (typeof HELP_TOPICS)[number];

export function isHelpTopic(word: string): word is HelpTopic {
  return (HELP_TOPICS as readonly string[]).includes(word);
}

const EXIT_CODE_MEANINGS: Record<keyof typeof EXIT_CODES, string> = {
  ok: 'success',
  internal: 'unexpected internal error (a bug; run again with --debug and report it)',
  usage: 'usage error: bad or missing arguments, bad input, no terminal for a required prompt',
  notFound: 'not found: no such token, or no account yet (run tokenctl init)',
  conflict: 'conflict: 2 tokens of that type already exist, name taken, already initialised',
  pending: 'the token is pending (not usable yet), or a rotation cannot finish until its replacement is active',
  policy: 'policy violation found (audit --fail-on-stale: a stale token, or a deleted one still in use while draining; scan found a token)',
  permission: 'permission denied or authentication failed (not an admin, bad credential, a premium feature)',
  unavailable: 'backend unavailable (server unreachable, keychain locked or missing when required, store locked, a rotate --exec command failed)',
  data: 'data error: store or log unreadable, corrupt, tampered, unsafe permissions, or cannot be decrypted',
  cancelled: 'cancelled by the user (wrong confirmation phrase, Ctrl-C)',
};

const ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['TOKENCTL_HOME', 'directory for all local state (config, stores, audit logs, key files); default $XDG_CONFIG_HOME/tokenctl or ~/.config/tokenctl (macOS: ~/Library/Application Support/tokenctl, Windows: %APPDATA%\\tokenctl)'],
  ['TOKENCTL_PROFILE', 'profile to use (same as --profile); each profile is its own account'],
  ['TOKENCTL_MASTER_KEY', 'base64 of 32 bytes (openssl rand -base64 32): the key that encrypts the local store, instead of the OS keychain; when set, it always wins'],
  ['TOKENCTL_NOW', 'ISO-8601 instant taken as "now", for tests and drills; each CLI command runs at that instant, serve starts at it and runs on; a token service keeps its own clock'],
  ['TOKENCTL_KEYCHAIN', 'off: never touch the OS keychain'],
  ['TOKENCTL_SERVER', 'use the token service at this URL without a saved profile (CI); needs TOKENCTL_ADMIN_KEY; wins over any profile'],
  ['TOKENCTL_ADMIN_KEY', 'the admin credential for TOKENCTL_SERVER'],
  ['TOKENCTL_DATABASE_URL', 'serve / server ...: the PostgreSQL database shared by every replica (instead of --data <dir>)'],
  ['TOKENCTL_SQLITE_DRIVER', 'serve / server ... on --data: the SQLite driver, node:sqlite (the default where Node.js has it, 22.13 and later) or better-sqlite3 (the default on Node.js 20, installed beside tokenctl)'],
  ['TOKENCTL_PUBLIC_URL', "serve / server init: the https URL resource servers reach the service at (accounts' issuers <url>/accounts/<id>, RFC 8414 metadata); same as serve --public-url"],
  ['TOKENCTL_SERVER_KEY', 'serve / server ...: base64 of 32 bytes sealing token values and signing keys in the service\'s storage (instead of <data>/server.key); required with PostgreSQL'],
  ['TOKENCTL_HTTP_TIMEOUT_MS', 'how long the CLI waits for the service (default 15000)'],
  ['TOKENCTL_WEBHOOK_ALLOW', 'serve: networks beyond the public internet that notifications may reach (loopback, private, link-local, addresses or CIDR ranges; same as --webhook-allow)'],
  ['TOKENCTL_WEBHOOK_TIMEOUT_MS', 'serve, testing hook: one notification attempt\'s bound in milliseconds (100 to 30000), instead of 10 s'],
  ['TOKENCTL_ALLOW_INSECURE_HTTP', '1 allows http:// to a host other than this machine'],
  ['TOKENCTL_CLIPBOARD_CLEAR_MS', 'testing hook: milliseconds after which get --copy clears the clipboard, instead of 45 s'],
  ['TOKENCTL_CRASH_AFTER', 'testing hook: started, delivered or completed kills rotate (SIGKILL) right after that journal step'],
  ['NO_COLOR', 'no colour'],
  ['FORCE_COLOR, CLICOLOR_FORCE', 'colour even when output is not a terminal (FORCE_COLOR=0 turns it off); they win over NO_COLOR'],
  ['COLUMNS', 'the terminal width for tables when the terminal does not say'],
];

/**
 * Two columns. On a terminal (`width` known) the meanings are word-wrapped within their column (under the whole row
 * when the terminal is too narrow for both); elsewhere (a pipe, a file) each row is one line, as it always was.
 */
function table(head: readonly [string, string], rows: readonly (readonly [string, string])[], width: number | undefined): string {
  if (width !== undefined) {
    return renderFitted([{ columns: [{ head: head[0], cells: rows.map((r) => r[0]), fit: 'fixed' }, { head: head[1], cells: rows.map((r) => r[1]), fit: 'wrap', min: 30 }] }], width);
  }
  const w = Math.max(head[0].length, ...rows.map((r) => r[0].length));
  return [head, ...rows].map(([a, b]) => `${a.padEnd(w)}  ${b}`).join('\n') + '\n';
}

/** The topic's text; `width`: the terminal's, when it goes to one. */
export function helpTopicText(topic: HelpTopic, width?: number): string {
  if (topic === 'exit-codes') {
    const rows = (Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]).map((k) => [String(EXIT_CODES[k]), EXIT_CODE_MEANINGS[k]] as const);
    return `Exit codes of tokenctl (scripts may rely on them):\n\n${table(['CODE', 'MEANING'], rows, width)}`;
  }
  return `Environment variables tokenctl reads:\n\n${table(['VARIABLE', 'MEANING'], ENVIRONMENT, width)}`;
}
