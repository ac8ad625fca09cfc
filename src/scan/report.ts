import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TYPE_LABELS, TOKEN_TYPES, type TokenStatus, type TokenType } from '../core/tokens.js';
import { renderFitted, type Column } from '../ui/columns.js';
import { safeText } from '../ui/sanitize.js';

/** "yes": a live (not deleted) token of the current account; "no": not one; "unknown": no account to ask. */
export type Liveness = 'yes' | 'no' | 'unknown';

/** One leaked token, as printed: never the value, only its masked form. Stable JSON shape (add, never rename). */
export interface Finding {
  file: string;
  line: number;
  column: number;
  /** The column just after the value (SARIF's convention). */
  endColumn: number;
  type: TokenType;
  masked: string;
  live: Liveness;
  /** The matching token of the current account (deleted ones too), when there is one. */
  token: { id: string; name: string; status: TokenStatus } | null;
}

export const STDIN_LABEL = '<stdin>';

export function livenessText(f: Finding): string {
  if (f.live === 'unknown') return 'unknown (no account could be checked)';
  if (!f.token) return 'not a token of this account';
  const who = `'${safeText(f.token.name)}' (${f.token.id}, ${f.token.status})`;
  return f.live === 'yes' ? `LIVE token of this account: ${who}` : `deleted token of this account: ${who}`;
}

/** One line per finding, compiler style (`file:line:column: ...`), which editors and CI logs link. */
export function renderFindingLines(findings: readonly Finding[]): string {
  return findings.map((f) => `${safeText(f.file)}:${f.line}:${f.column}: ${f.type} token ${f.masked} - ${livenessText(f)}\n`).join('');
}

/** The same, shorter, for a narrow table: "LIVE: 'events' (active)". */
function shortLivenessText(f: Finding): string {
  if (f.live === 'unknown') return 'unknown';
  if (!f.token) return "not this account's";
  return `${f.live === 'yes' ? 'LIVE' : 'deleted'}: '${safeText(f.token.name)}' (${f.token.status})`;
}

/**
 * The findings on a terminal: one line per finding, at most `width` columns. When it does not fit, it gives up, in
 * this order: the token ids in LIVE (a shorter wording), the TYPE column (the masked value's prefix says it), then
 * LIVE goes under each finding; long paths are cut at their start with "…" (line and column stay) before that.
 */
export function renderFindingTable(findings: readonly Finding[], width: number): string {
  const where: Column = { head: 'FILE:LINE:COL', cells: findings.map((f) => `${safeText(f.file)}:${f.line}:${f.column}`), fit: 'cut', keep: 'end', min: 24 };
  const type: Column = { head: 'TYPE', cells: findings.map((f) => f.type), fit: 'fixed' };
  const value: Column = { head: 'VALUE', cells: findings.map((f) => f.masked), fit: 'fixed' };
  const live = (short: boolean): Column => ({ head: 'LIVE', cells: findings.map((f) => (short ? shortLivenessText(f) : livenessText(f))), fit: 'wrap', min: 20 });
  return renderFitted([{ columns: [where, type, value, live(false)] }, { columns: [where, type, value, live(true)] }, { columns: [where, value, live(true)] }], width);
}

const ruleId = (type: TokenType) => `tokenctl/${type}-token`;

function artifactUri(file: string): { uri: string; uriBaseId?: string } {
  if (file === STDIN_LABEL) return { uri: 'stdin' };
  if (path.isAbsolute(file)) return { uri: pathToFileURL(file).href };
  return { uri: file.split(path.sep).map(encodeURIComponent).join('/'), uriBaseId: '%SRCROOT%' };
}

/** SARIF 2.1.0, as GitHub code scanning reads it. */
export function renderSarif(findings: readonly Finding[], meta: { version: string; cwd: string }): string {
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tokenctl',
            semanticVersion: meta.version,
            rules: TOKEN_TYPES.map((type) => ({
              id: ruleId(type),
              name: `Leaked${type[0]!.toUpperCase()}${type.slice(1)}Token`,
              shortDescription: { text: `Leaked tokenctl ${TYPE_LABELS[type]}` },
              fullDescription: {
                text: `A tokenctl ${TYPE_LABELS[type]} is in the scanned content. Anyone who reads it can act as your account: delete the token (or rotate it: tokenctl rotate <name>) and remove it from the history.`,
              },
              help: {
                text: 'Replace the token safely: tokenctl rotate <name>. Then remove the value from the file and from version control history. Keep values out of code: use tokenctl exec or your CI secret store.',
              },
              defaultConfiguration: { level: 'error' },
              properties: { tags: ['security', 'secret'], precision: 'very-high', 'security-severity': '9.0' },
            })),
          },
        },
        columnKind: 'utf16CodeUnits',
        originalUriBaseIds: { '%SRCROOT%': { uri: pathToFileURL(meta.cwd + path.sep).href } },
        results: findings.map((f) => ({
          ruleId: ruleId(f.type),
          ruleIndex: TOKEN_TYPES.indexOf(f.type),
          level: 'error',
          message: { text: `Leaked ${TYPE_LABELS[f.type]} ${f.masked}: ${livenessText(f)}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: artifactUri(f.file),
                region: { startLine: f.line, startColumn: f.column, endLine: f.line, endColumn: f.endColumn },
              },
            },
          ],
          properties: { live: f.live, tokenId: f.token?.id ?? null },
        })),
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + '\n';
}
