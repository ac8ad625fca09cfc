import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * api/openapi.yaml, found by walking up from this module: it sits at the package root both for the sources
 * (src/server/) and for the bundle (dist/chunks/).
 */
export function openApiPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'api', 'openapi.yaml');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('api/openapi.yaml not found beside the tokenctl package');
}

export function readOpenApiDocument(): string {
  return (cached ??= readFileSync(openApiPath(), 'utf8'));
}
