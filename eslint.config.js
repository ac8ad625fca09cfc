// The architecture's boundaries, checked on every `npm test` (npm run lint): a newcomer can see them here, and a
// change that crosses one fails the build instead of slowly eroding the layering (wrangler does the same for
// console). Only these rules: style is left to review.
import tseslint from 'typescript-eslint';

const streams = [
  { object: 'process', property: 'stdout', message: 'only src/ui/ writes to the process streams: take io from Deps' },
  { object: 'process', property: 'stderr', message: 'only src/ui/ writes to the process streams: take io from Deps' },
];
const outward = (dirs, why) => ({ group: dirs.map((d) => `**/${d}/**`), message: why });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error', ...streams],
      // A double cast tells the compiler to stop checking: declare the port, narrow, or adapt instead.
      'no-restricted-syntax': ['error', { selector: "TSAsExpression > TSAsExpression[typeAnnotation.type='TSUnknownKeyword']", message: 'no `as unknown as` in src/: declare the type that is true, or adapt the value' }],
    },
  },
  {
    // The rules of the spec are pure: no I/O, no clock of their own, no other layer.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^(?!\\./)', message: 'src/core/ imports only src/core/ (pure rules: no I/O, no libraries)' }] }],
      'no-restricted-globals': ['error', { name: 'process', message: 'src/core/ never reads the process: pass what it needs' }],
    },
  },
  {
    // The use cases and the stores know nothing of terminals, commands, profiles, HTTP or the server.
    files: ['src/tokens/**/*.ts', 'src/storage/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [outward(['ui', 'commands', 'config', 'backends', 'server', 'exec', 'scan', 'completion'], 'use cases and storage depend only on core/, secrets/, fs/, storage/ and tokens/')] }],
    },
  },
  {
    // The service is not a client: it never reaches into the CLI's commands, profiles, prompts or backends.
    files: ['src/server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [outward(['commands', 'config', 'backends', 'exec', 'scan', 'completion'], 'the server does not import client modules'), { group: ['**/ui/*', '!**/ui/sanitize.js'], message: 'the server uses no terminal I/O (ui/sanitize is text only)' }] },
      ],
    },
  },
  {
    // The entry point writes the last-resort error line and waits for the streams to drain before it exits; the
    // exec runner forwards a child's output, masked, byte for byte.
    files: ['src/ui/**/*.ts', 'src/cli.ts', 'src/exec/run.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
