/**
 * A duration for people, rounded up to the minute: short for terminal tables and messages ("12m", "3h 5m", "4d"),
 * in words for sentences and the Tokens page ("12 min", "3 h 5 min", "4 days").
 */
export function formatDuration(ms: number, style: 'short' | 'words' = 'short'): string {
  const minutes = Math.max(0, Math.ceil(ms / 60_000));
  const [m, h, d] = style === 'short' ? ['m', 'h', 'd'] : [' min', ' h', ' days'];
  if (minutes < 60) return `${minutes}${m}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours}${h}` : `${hours}${h} ${minutes % 60}${m}`;
  return `${Math.floor(hours / 24)}${d}`;
}

/**
 * A message as a sentence for people reading a page: its first letter upper case and a full stop at the end. Core's
 * messages are clauses, so that the CLI can put "error: " in front of them.
 */
export function asSentence(text: string): string {
  const t = text.trim();
  if (t === '') return t;
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}

/** "2026-11-29 14:05 UTC": an unambiguous time for people. */
export function formatInstant(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** "14:05 UTC": the time of day, where the day goes without saying (within the hour). */
export function formatTime(iso: string): string {
  return `${iso.slice(11, 16)} UTC`;
}

/** A word as a POSIX shell reads it back: bare when safe, else single-quoted. For commands we tell users to run. */
export function shellWord(word: string): string {
  return /^[\w.@%+=:,/-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes a command for the user to run: `tokenctl <args>`, each argument a shell word. The CLI passes its own (which
 * knows the profile, and whether tokenctl runs through npx); the rules use this plain one by default.
 */
export type CommandLine = (args: readonly string[]) => string;
export const plainCommand: CommandLine = (args) => ['tokenctl', ...args.map(shellWord)].join(' ');

/** "1,204": a count for people, with thousands separators (not toLocaleString: it would load ICU for one comma). */
export function formatCount(n: number): string {
  const digits = String(Math.trunc(Math.abs(n)));
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${grouped}` : grouped;
}

/**
 * How long ago, rounded down: in words for sentences ("2 minutes ago", "3 hours ago", "5 days ago", "less than a
 * minute ago"), or short for a table's cell ("2 min ago", "3 h ago", "5 days ago", "just now").
 */
export function formatAgo(ms: number, style: 'words' | 'short' = 'words'): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  const short = style === 'short';
  if (minutes < 1) return short ? 'just now' : 'less than a minute ago';
  const unit = (n: number, word: string, abbreviation: string) => (short && abbreviation ? `${n} ${abbreviation} ago` : `${n} ${word}${n === 1 ? '' : 's'} ago`);
  if (minutes < 60) return unit(minutes, 'minute', 'min');
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return unit(hours, 'hour', 'h');
  return unit(Math.floor(hours / 24), 'day', '');
}
