/** The major.minor.patch of the Node.js headers under `dir` (<dir>/include/node), or null. */
export function headersVersion(dir: string): string | null;
/** The environment for node-gyp: npm_config_nodedir pointed at the running Node.js's headers when it holds another version's. */
export function gypEnv(env: Record<string, string | undefined>, execPath: string, version: string): Record<string, string | undefined>;
