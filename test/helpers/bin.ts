// The one way tests run the built binary (bin/tokenctl.js, which loads dist/): as a user would, in an
// environment from test/helpers/env.ts. Needs `npm run build` first.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { accountEnv, tempHome } from './env.js';
import { sqliteDriverEnv } from './sqlite.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin', 'tokenctl.js');

const DEFAULT_TIMEOUT_MS = 30_000;

export function assertBuilt(): void {
  if (!existsSync(path.join(ROOT, 'dist', 'tokenctl.js'))) throw new Error('dist/ is missing: run npm run build before the e2e tests');
}

export interface BinResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface BinOptions {
  /** The child's whole environment (nothing is inherited but TOKENCTL_SQLITE_DRIVER), over PATH and HOME (= TOKENCTL_HOME) defaults. */
  env: Record<string, string>;
  /** Bytes for stdin; without it stdin is /dev/null, which proves that no command waits for a missing terminal. */
  input?: string;
  /** The working directory; the repository root unless given. */
  cwd?: string;
  /** runBin only: a run that takes longer is killed and fails the test as hung (default 30 s). */
  timeoutMs?: number;
}

let built = false;

/**
 * Starts the binary and hands back the child, for tests that signal it, talk to it or point its streams elsewhere.
 * stdio is stdin /dev/null (a pipe with `input`), stdout and stderr pipes, unless given.
 */
export function startBin(args: readonly string[], options: BinOptions, stdio?: SpawnOptions['stdio']): ChildProcess {
  if (!built) {
    assertBuilt();
    built = true;
  }
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: options.env.TOKENCTL_HOME ?? '/nonexistent', ...sqliteDriverEnv, ...options.env },
    cwd: options.cwd ?? ROOT,
    stdio: stdio ?? [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  return child;
}

/** Runs the binary to the end. A run that outlives its timeout is killed and rejects (hung), never resolves. */
export function runBin(args: readonly string[], options: BinOptions): Promise<BinResult> {
  return new Promise((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const child = startBin(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tokenctl ${args.join(' ')} did not finish within ${timeoutMs} ms (hung?)\n${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Served {
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
}

/**
 * `tokenctl serve --data <data>` from the binary on 127.0.0.1, port 0; resolves with its URL once it listens.
 * The service is killed (SIGKILL) when the test ends, if it is still running.
 */
export function startServe(env: Record<string, string>, data: string): Promise<Served> {
  const child = startBin(['serve', '--data', data, '--port', '0'], { env });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stderr: () => stderr, stdout: () => stdout });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
}

/** Initialises an account in a fresh home (accountEnv); returns its env and the default API token's value. */
export async function newAccount(extra: Record<string, string> = {}): Promise<{ home: string; env: Record<string, string>; defaultValue: string }> {
  const home = tempHome();
  const env = accountEnv(home, extra);
  const init = await runBin(['init'], { env });
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const get = await runBin(['get', 'default'], { env });
  if (get.code !== 0) throw new Error(`get failed: ${get.stderr}`);
  return { home, env, defaultValue: get.stdout };
}

/** Creates a token through the binary; returns its value. */
export async function createToken(env: Record<string, string>, type: string, name: string): Promise<string> {
  const r = await runBin(['create', '--type', type, '--name', name], { env });
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
  return r.stdout.trim();
}
