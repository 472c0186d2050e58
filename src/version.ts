import { readFileSync } from 'node:fs';

/** Set by the bundler (scripts/bundle.mjs); absent when running tsc's output or the sources. */
declare const __ELS_VERSION__: string | undefined;

/** The package version: built into the bundle, else read once from package.json beside dist/ or src/. */
export const VERSION: string = typeof __ELS_VERSION__ === 'string' ? __ELS_VERSION__ : (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch { /* try the next location */ }
  }
  return 'unknown';
})();
