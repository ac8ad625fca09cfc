import { TokenctlError } from '../core/errors.js';
import type { TokenRecord } from '../core/tokens.js';
import { isLive, tokenStatus } from '../core/tokens.js';
import type { TokenBackend } from '../backends/token-backend.js';
import { redactTokenLike } from '../ui/sanitize.js';
import { detectTokens } from './detect.js';
import type { Finding, Liveness } from './report.js';
import type { ScanInput } from './sources.js';

/** Asks the current account which token (if any) has this value; null when there is no account to ask. */
export type Identify = (value: string) => Promise<TokenRecord | null | 'unknown'>;

export interface ScanResult {
  findings: Finding[];
  scanned: number;
}

/**
 * Scans every input and, for each value found, asks the account once whether it is one of its tokens. Values
 * live only in memory here; findings carry the masked form.
 */
export async function scanInputs(inputs: AsyncIterable<ScanInput>, identify: Identify, now: () => Date): Promise<ScanResult> {
  const raw: { file: string; value: string; finding: Omit<Finding, 'live' | 'token'> }[] = [];
  let scanned = 0;
  for await (const input of inputs) {
    scanned++;
    for (const d of detectTokens(input.text)) {
      raw.push({
        file: input.file,
        value: d.value,
        finding: { file: input.file, line: d.line, column: d.column, endColumn: d.column + d.value.length, type: d.type, masked: d.masked },
      });
    }
  }
  const answers = new Map<string, Promise<TokenRecord | null | 'unknown'>>();
  const ask = (value: string) => {
    let answer = answers.get(value);
    if (!answer) answers.set(value, (answer = identify(value)));
    return answer;
  };
  const findings: Finding[] = [];
  for (const r of raw) {
    const match = await ask(r.value);
    let live: Liveness = 'unknown';
    let token: Finding['token'] = null;
    if (match !== 'unknown') {
      live = match !== null && isLive(match) ? 'yes' : 'no';
      token = match ? { id: match.id, name: match.name, status: tokenStatus(match, now()) } : null;
    }
    findings.push({ ...r.finding, live, token });
  }
  return { findings, scanned };
}

/**
 * Asks the backend, opened on first use; the first failure (no account, store locked, service unreachable) is
 * reported once and every later answer is "unknown".
 */
export function accountIdentifier(open: () => Promise<TokenBackend>, onUnavailable: (why: string) => void): Identify {
  let backend: Promise<TokenBackend> | undefined;
  let usable = true;
  return async (value) => {
    if (!usable) return 'unknown';
    try {
      backend ??= open();
      return await (await backend).identify(value);
    } catch (error) {
      if (usable) onUnavailable(error instanceof TokenctlError ? redactTokenLike(error.message) : 'the account could not be read');
      usable = false;
      return 'unknown';
    }
  };
}
