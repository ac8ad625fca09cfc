import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';

// The lint step (npm run lint) enforces the layering; these cases prove it would fail on a crossing, with the
// project's own configuration, so a loosened rule is noticed.
const eslint = new ESLint({ cwd: process.cwd() });
const problems = async (filePath: string, code: string) => (await eslint.lintText(code, { filePath }))[0]!.messages.map((m) => m.ruleId);

describe('architecture boundaries (eslint.config.js)', () => {
  it('refuses an import from outside src/core/ in the core', async () => {
    expect(await problems('src/core/example.ts', "import { x } from '../ui/io.js';\nexport const y = x;\n")).toContain('no-restricted-imports');
    expect(await problems('src/core/example.ts', "import { readFileSync } from 'node:fs';\nexport const y = readFileSync;\n")).toContain('no-restricted-imports');
    expect(await problems('src/core/example.ts', "import { x } from './tokens.js';\nexport const y = x;\n")).toEqual([]);
  });

  it('refuses writes to the process streams outside src/ui/', async () => {
    expect(await problems('src/commands/example.ts', "process.stdout.write('x');\n")).toContain('no-restricted-properties');
    expect(await problems('src/commands/example.ts', "console.log('x');\n")).toContain('no-console');
    expect(await problems('src/ui/example.ts', "process.stdout.write('x');\n")).toEqual([]);
  });

  it('keeps client modules out of the server, and the CLI out of the use cases and stores', async () => {
    expect(await problems('src/server/example.ts', "import { x } from '../backends/http/http-backend.js';\nexport const y = x;\n")).toContain('no-restricted-imports');
    expect(await problems('src/server/example.ts', "import { x } from '../ui/prompter.js';\nexport const y = x;\n")).toContain('no-restricted-imports');
    expect(await problems('src/tokens/example.ts', "import { x } from '../server/app.js';\nexport const y = x;\n")).toContain('no-restricted-imports');
    expect(await problems('src/storage/example.ts', "import { x } from '../commands/list.js';\nexport const y = x;\n")).toContain('no-restricted-imports');
    expect(await problems('src/server/example.ts', "import { x } from '../tokens/token-service.js';\nexport const y = x;\n")).toEqual([]);
  });
});
