import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, BIN, createToken, newAccount, runBin } from '../helpers/bin.js';
import { accountEnv, tempDir } from '../helpers/env.js';

beforeAll(assertBuilt);

const has = (shell: string) => spawnSync(shell, ['--version']).status === 0;

/** A `tokenctl` on PATH that runs the built binary, as an installed one would. */
function shimPath(env: Record<string, string>): Record<string, string> {
  const bin = path.join(tempDir(), 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'tokenctl'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(path.join(bin, 'tokenctl'), 0o755);
  return { ...env, PATH: `${bin}:${env.PATH}` };
}

async function accountWithNames() {
  const { env, home } = await newAccount();
  await createToken(env, 's2s', 'ci deploy');
  await createToken(env, 'onelink', 'reporting');
  const shell = shimPath(env);
  const script = (sh: string) => {
    const r = spawnSync('tokenctl', ['completion', sh], { env: shell, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const file = path.join(home, `completion.${sh}`);
    writeFileSync(file, r.stdout);
    return file;
  };
  return { env: shell, home, script };
}

describe('bash completion', () => {
  it('loads in real bash and completes commands, options, types and token names', async () => {
    const { env, home, script } = await accountWithNames();
    const file = script('bash');
    const complete = (...words: string[]) => {
      const r = spawnSync(
        'bash',
        ['--norc', '--noprofile', '-c', `source ${JSON.stringify(file)} || exit 99; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _tokenctl; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', ...words],
        { env, encoding: 'utf8' },
      );
      expect(r.status).toBe(0);
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(spawnSync('bash', ['--norc', '-c', `source ${JSON.stringify(file)} && complete -p tokenctl`], { env, encoding: 'utf8' }).stdout).toContain('-F _tokenctl tokenctl');
    expect(complete('tokenctl', 'lis')).toEqual(['list']);
    expect(complete('tokenctl', '')).toEqual(expect.arrayContaining(['get', 'exec', 'scan', 'completion']));
    expect(complete('tokenctl', '')).not.toContain('__complete');
    expect(complete('tokenctl', 'get', '').sort()).toEqual(['ci\\ deploy', 'default', 'reporting']);
    expect(complete('tokenctl', 'get', 'ci')).toEqual(['ci\\ deploy']);
    expect(complete('tokenctl', 'rm', 'rep')).toEqual(['reporting']); // an alias of delete
    expect(complete('tokenctl', 'help', 'sc')).toEqual(['scan']);
    mkdirSync(path.join(home, 'scan-me'));
    const inHome = (...words: string[]) =>
      spawnSync('bash', ['--norc', '--noprofile', '-c', `cd ${JSON.stringify(home)}; source ${JSON.stringify(file)}; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _tokenctl; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', ...words], { env, encoding: 'utf8' }).stdout.trim();
    expect(inHome('tokenctl', 'scan', 'scan-m')).toBe('scan-me');
    expect(inHome('tokenctl', 'scan', 'scan-me', 'scan-m')).toBe('scan-me'); // paths repeat
    expect(complete('tokenctl', 'exec', '--token', 'r')).toEqual(['reporting']);
    expect(complete('tokenctl', 'get', 'default', '')).toEqual([]);
    expect(complete('tokenctl', 'create', '--type', '')).toEqual(['api', 'onelink', 's2s']);
    expect(complete('tokenctl', 'scan', '--format', '')).toEqual(['table', 'json', 'sarif']);
    expect(complete('tokenctl', 'completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(complete('tokenctl', 'get', '--')).toEqual(expect.arrayContaining(['--allow-pending', '--output-file', '--no-newline', '--json']));
    expect(complete('tokenctl', 'exec', '--token', 'default', '--', 'nod')).toContain('node');

    // --profile on the line selects the profile whose names are offered
    const other = accountEnv(home, { TOKENCTL_PROFILE: 'other' });
    expect((await runBin(['--profile', 'other', 'init', '--no-default-token'], { env: { ...other, TOKENCTL_MASTER_KEY: env.TOKENCTL_MASTER_KEY! } })).code).toBe(0);
    expect(complete('tokenctl', '--profile', 'other', 'get', '')).toEqual([]);
    expect(complete('tokenctl', '--profile', 'default', 'get', 'rep')).toEqual(['reporting']);
  });
});

describe.skipIf(!has('zsh'))('zsh completion', () => {
  it('loads with compinit and completes a token name in an interactive zsh', async () => {
    const { env, home, script } = await accountWithNames();
    const file = script('zsh');
    const zenv = { ...env, HOME: home, ZDOTDIR: home };
    const loaded = spawnSync('zsh', ['-f', '-c', `autoload -U compinit; compinit -u -D; source ${JSON.stringify(file)}; print -r -- $_comps[tokenctl]`], { env: zenv, encoding: 'utf8' });
    expect(loaded.stdout.trim()).toBe('_tokenctl');

    // A real interactive zsh on a pseudo-terminal (zsh/zpty): type, press Tab, read the line back. Both ways
    // of installing: sourced after compinit, and as an autoloaded _tokenctl in $fpath.
    const fpathDir = path.join(home, 'zfunc');
    mkdirSync(fpathDir);
    writeFileSync(path.join(fpathDir, '_tokenctl'), readFileSync(file));
    for (const setup of [`autoload -U compinit; compinit -u -D; source ${file}`, `fpath=(${fpathDir} $fpath); autoload -U compinit; compinit -u -D`]) {
      const driver = `
        zmodload zsh/zpty || exit 98
        zpty z 'zsh -f -i'
        zpty -w z 'PS1="> "; ${setup}; unsetopt beep'
        zpty -w -n z $'tokenctl get ci\\t'
        out=''
        for i in {1..100}; do
          zpty -r -t z chunk && out+=$chunk
          [[ $out == *'ci\\ deploy'* ]] && break
          sleep 0.1
        done
        zpty -d z
        print -r -- $out`;
      const r = spawnSync('zsh', ['-f', '-c', driver], { env: zenv, encoding: 'utf8', timeout: 30_000 });
      expect(r.stdout, setup).toContain('tokenctl get ci\\ deploy');
    }
  });
});

describe.skipIf(!has('fish'))('fish completion', () => {
  it('loads in real fish and completes commands, types and token names', async () => {
    const { env, home, script } = await accountWithNames();
    const file = script('fish');
    const complete = (line: string) => {
      const r = spawnSync('fish', ['--no-config', '-c', `source ${file}; complete -C '${line}'`], { env: { ...env, HOME: home }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
    };
    expect(complete('tokenctl get ')).toEqual(['ci deploy', 'default', 'reporting']);
    expect(complete('tokenctl exec --token de')).toEqual(['default']);
    expect(complete('tokenctl create --type ')).toEqual(['api', 'onelink', 's2s']);
    expect(complete('tokenctl sc')).toEqual(['scan']);
    expect(complete('tokenctl get default ')).toEqual([]);
    expect(complete('tokenctl rm rep')).toEqual(['reporting']);
  });
});

describe('__complete', () => {
  it('prints names only, and nothing at all (exit 0) on any error', async () => {
    const { env } = await newAccount();
    await createToken(env, 'api', 'second');
    const ok = await runBin(['__complete', 'tokens'], { env });
    expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, 'default\nsecond\n', '']);
    expect((await runBin(['__complete', 'profiles'], { env })).stdout).toBe('default\n');

    const empty = tempDir();
    for (const args of [['__complete', 'tokens'], ['__complete', 'tokens', '--profile', '../bad'], ['__complete', 'nonsense'], ['__complete', 'profiles']]) {
      const r = await runBin(args, { env: accountEnv(empty) });
      expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    }
    const profileDir = path.join(empty, 'profiles', 'default');
    mkdirSync(profileDir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(profileDir, 'store.json'), '{ not json', { mode: 0o600 });
    const corrupt = await runBin(['__complete', 'tokens'], { env: accountEnv(empty) });
    expect([corrupt.code, corrupt.stdout, corrupt.stderr]).toEqual([0, '', '']);
  });
});

describe('help and typos', () => {
  it('suggests the command a typo was meant to be', async () => {
    const env = accountEnv(tempDir());
    const r = await runBin(['lst'], { env });
    expect(r.code).toBe(2);
    // One line, the suggestion included (README: errors are one line).
    expect(r.stderr).toMatch(/^error: unknown command 'lst'; did you mean (one of )?list.*\? \(run with --help for usage\)\n$/);
    expect(r.stderr).not.toContain('\\u000a');
    const opt = await runBin(['get', 'default', '--output-fil', 'x'], { env });
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/; did you mean --output-file\?/);
    expect(opt.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('ends every command help with 2-3 examples (for a command group: each of its commands)', async () => {
    const env = accountEnv(tempDir());
    const commandsOf = (help: string) =>
      (help.split('\nCommands:\n')[1] ?? '')
        .split('\n')
        .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
        .filter((c): c is string => c !== undefined && c !== 'help');
    const leaves: string[][] = [];
    const visit = async (path: string[]) => {
      const r = await runBin([...path, '--help'], { env });
      expect(r.code, path.join(' ')).toBe(0);
      const subs = commandsOf(r.stdout);
      if (path.length > 0 && subs.length === 0) leaves.push(path);
      for (const sub of subs) await visit([...path, sub]);
      return r.stdout;
    };
    await visit([]);
    expect(leaves.map((l) => l.join(' '))).toEqual(
      expect.arrayContaining(['get', 'exec', 'scan', 'completion', 'list', 'create', 'logout', 'version', 'profile remove']),
    );
    for (const path of leaves) {
      const name = path.join(' ');
      const r = await runBin([...path, '--help'], { env });
      const tail = r.stdout.trimEnd().split('\nExamples:\n')[1];
      expect(tail, `${name} --help has an Examples block at the end`).toBeDefined();
      const lines = tail!.split('\n');
      expect(lines.every((l) => l.startsWith('  $ ') && l.includes('tokenctl')), name).toBe(true);
      expect(lines.length, name).toBeGreaterThanOrEqual(2);
      expect(lines.length, name).toBeLessThanOrEqual(3);
    }
  });
});
