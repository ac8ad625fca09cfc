#!/usr/bin/env node
import module from 'node:module';
module.enableCompileCache?.();
import('../dist/tokenctl.js').catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/tokenctl.js')) throw error;
  process.stderr.write('error: tokenctl is not built; run: npm run build\n');
  process.exit(1);
});
