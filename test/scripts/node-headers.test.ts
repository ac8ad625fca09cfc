import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gypEnv, headersVersion } from '../../scripts/node-headers.mjs';

// `npm run sqlite-driver` on a machine whose npm sets nodedir to the system Node.js (Debian: /usr) while another
// Node.js runs it: node-gyp must build against the running Node.js's headers, or the binding builds and never loads.
describe('the headers a native addon is built against', () => {
  const base = mkdtempSync(path.join(tmpdir(), 'tokenctl-headers-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const prefix = (name: string, version: string | null) => {
    const dir = path.join(base, name);
    mkdirSync(path.join(dir, 'include', 'node'), { recursive: true });
    mkdirSync(path.join(dir, 'bin'), { recursive: true });
    if (version) {
      const [major, minor, patch] = version.split('.');
      writeFileSync(
        path.join(dir, 'include', 'node', 'node_version.h'),
        `#ifndef SRC_NODE_VERSION_H_\n#define NODE_MAJOR_VERSION ${major}\n#define NODE_MINOR_VERSION ${minor}\n#define NODE_PATCH_VERSION ${patch}\n#endif\n`,
      );
    }
    return dir;
  };
  const system = prefix('usr', '20.20.2');
  const node24 = prefix('node24', '24.22.3');
  const headerless = prefix('bare', null);

  it('reads the version of a headers directory, and null where there is none', () => {
    expect(headersVersion(system)).toBe('20.20.2');
    expect(headersVersion(headerless)).toBeNull();
    expect(headersVersion(path.join(base, 'nowhere'))).toBeNull();
  });

  it("points node-gyp at the running Node.js's own headers when npm's nodedir holds another version's", () => {
    const env = { npm_config_nodedir: system, PATH: '/bin' };
    expect(gypEnv(env, path.join(node24, 'bin', 'node'), '24.22.3')).toEqual({ npm_config_nodedir: node24, PATH: '/bin' });
    // The caller's environment is not changed.
    expect(env.npm_config_nodedir).toBe(system);
  });

  it('leaves the environment as it is when the configured headers match, when none are configured, or when the running Node.js has none beside it', () => {
    const matching = { npm_config_nodedir: system };
    expect(gypEnv(matching, path.join(node24, 'bin', 'node'), '20.20.2')).toBe(matching);
    const unset = { PATH: '/bin' };
    expect(gypEnv(unset, path.join(node24, 'bin', 'node'), '24.22.3')).toBe(unset);
    const noOwn = { npm_config_nodedir: system };
    expect(gypEnv(noOwn, path.join(headerless, 'bin', 'node'), '24.22.3')).toBe(noOwn);
  });
});
