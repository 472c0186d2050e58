// Writes deploy/crds (and the chart's copy) from src/crds/schema.ts. `--check` fails when the
// files on disk differ from what the schema generates (CI and the drift test use it).
import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { crdManifest } from '../src/crds/schema.js';

export const CRD_FILES = [
  'deploy/crds/llmsecrets.dev_externalllmsecrets.yaml',
  // Helm installs a chart's crds/ folder unconditionally; the chart templates this copy instead,
  // behind crds.install.
  'deploy/helm/external-llm-secrets/files/crds/llmsecrets.dev_externalllmsecrets.yaml',
];

export function renderCrd(): string {
  return `# Generated from src/crds/schema.ts by "npm run gen:crds". Do not edit.\n${stringify(crdManifest(), { lineWidth: 0 })}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  const text = renderCrd();
  let drift = false;
  for (const file of CRD_FILES) {
    if (check) {
      let current = '';
      try { current = readFileSync(file, 'utf8'); } catch { /* missing counts as drift */ }
      if (current !== text) { drift = true; console.error(`${file} differs from src/crds/schema.ts: run npm run gen:crds`); }
    } else {
      writeFileSync(file, text);
      console.log(`wrote ${file}`);
    }
  }
  process.exit(drift ? 1 : 0);
}
