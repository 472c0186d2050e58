// Every example manifest and every Kubernetes object in docs/install-eks.md is accepted by the
// apiserver, and the doc's values blocks by the chart, so none rots.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './env/index.js';
import { CHART, dryRunAll, helmOk, useHelmCluster, valuesFile, type Obj } from './helpers/helm.js';

const { freshNamespace } = useHelmCluster();

describe('examples and docs', () => {
  const examples = readdirSync(join(repoRoot, 'examples')).filter((f) => /\.ya?ml$/.test(f)).sort();

  it('has the promised examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['openai.yaml', 'anthropic.yaml', 'bedrock-api-key.yaml', 'bedrock-iam.yaml', 'deployment-envfrom.yaml', 'deployment-volume.yaml']));
  });

  it.each(examples)('examples/%s is accepted by the apiserver (server-side dry run)', async (file) => {
    const ns = await freshNamespace('example');
    const objs = parseAllDocuments(readFileSync(join(repoRoot, 'examples', file), 'utf8')).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => !!o);
    expect(objs.length).toBeGreaterThan(0);
    await dryRunAll(objs.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } })));
  });

  it('every Kubernetes object in docs/install-eks.md is accepted by the apiserver (server-side dry run)', async () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'install-eks.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const objs = blocks.flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as Obj | null)).filter((o): o is Obj => !!o && typeof o.apiVersion === 'string' && typeof o.kind === 'string');
    expect(objs.length).toBeGreaterThanOrEqual(2);
    const ns = await freshNamespace('docs');
    await dryRunAll(objs.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } })));
    // The values blocks in the doc are valid chart values.
    const valueBlocks = blocks.filter((b) => !/^\s*apiVersion:/m.test(b));
    for (const b of valueBlocks) helmOk(['template', 'docs', CHART, '-f', valuesFile(parseYaml(b) as object)]);
    // The JSON policies parse.
    for (const m of doc.matchAll(/```json\n([\s\S]*?)```/g)) expect(() => JSON.parse(m[1]!)).not.toThrow();
  });
});
