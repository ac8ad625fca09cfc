// Spawns the built binary exactly as a user would, for this end-to-end tests.
import { spawn, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin', 'tokenctl.js');

export function assertBuilt(): void {
  if (!existsSync(path.join(ROOT, 'dist', 'tokenctl.js'))) throw new Error('dist/ is missing: run npm run build before the e2e tests');
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env: Record<string, string>;
  /** Bytes for stdin; without it stdin is /dev/null. */
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

/** A temp dir removed after the test. */
export function tempDir(prefix = 'tokenctl-e2e-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment of a test account: own TOKENCTL_HOME, a master key in the env, no keychain, no colour. */
export function accountEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    TOKENCTL_HOME: home,
    TOKENCTL_KEYCHAIN: 'off',
    TOKENCTL_MASTER_KEY: randomBytes(32).toString('base64'),
    NO_COLOR: '1',
    ...extra,
  };
}

export function startTokenctl(args: readonly string[], options: RunOptions, stdio?: SpawnOptions['stdio']) {
  return spawn(process.execPath, [BIN, ...args], {
    env: options.env,
    cwd: options.cwd ?? ROOT,
    stdio: stdio ?? [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

export function runTokenctl(args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = startTokenctl(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Initialises an account in a fresh home; returns its env and the default API token's value. */
export async function newAccount(extra: Record<string, string> = {}): Promise<{ home: string; env: Record<string, string>; defaultValue: string }> {
  const home = tempDir();
  const env = accountEnv(home, extra);
  const init = await runTokenctl(['init'], { env });
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const get = await runTokenctl(['get', 'default'], { env });
  if (get.code !== 0) throw new Error(`get failed: ${get.stderr}`);
  return { home, env, defaultValue: get.stdout };
}

export async function createToken(env: Record<string, string>, type: string, name: string): Promise<string> {
  const r = await runTokenctl(['create', '--type', type, '--name', name], { env });
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
  return r.stdout.trim();
}
