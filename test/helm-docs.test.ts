// Every example manifest and every Kubernetes object in docs/install-eks.md is accepted by the
// apiserver, and the doc's values blocks by the chart, so none rots.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './env/index.js';
import { CHART, dryRunAll, helmOk, tmp, useHelmCluster, valuesFile, type Obj } from './helpers/helm.js';

const { freshNamespace } = useHelmCluster();

describe('examples and docs', () => {
  const examples = readdirSync(join(repoRoot, 'examples')).filter((f) => /\.ya?ml$/.test(f)).sort();

  it('has the promised examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['openai.yaml', 'anthropic.yaml', 'bedrock-api-key.yaml', 'bedrock-iam.yaml', 'deployment-envfrom.yaml', 'deployment-volume.yaml', 'litellm.yaml']));
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

describe('the Argo CD health check in docs/install-eks.md', () => {
  it('runs in gopher-lua, as Argo CD runs it: Progressing, Healthy, Degraded with the reason', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'install-eks.md'), 'utf8');
    const lua = [...doc.matchAll(/```lua\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(lua).toHaveLength(1);
    const script = join(tmp, 'health.lua');
    writeFileSync(script, lua[0]!);
    const ready = (status: string, reason: string, message: string) => ({ type: 'Ready', status, reason, message, lastTransitionTime: '2026-11-29T10:00:00Z' });
    const els = (generation: number, status?: object) => ({ apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret', metadata: { name: 'openai', namespace: 'team-a', generation }, spec: { source: { secretId: 'team-a/openai' }, provider: 'openai' }, ...(status ? { status } : {}) });
    const objects = [
      els(1),
      els(1, { observedGeneration: 1, conditions: [ready('True', 'Synced', 'Secret openai holds version v1 of team-a/openai')] }),
      els(1, { observedGeneration: 1, conditions: [ready('False', 'AccessDenied', 'GetSecretValue: AccessDeniedException')] }),
      els(2, { observedGeneration: 1, conditions: [ready('True', 'Synced', 'old generation')] }),
      els(1, { observedGeneration: 1, conditions: [{ type: 'EnvVarNames', status: 'False', reason: 'NotEnvVarNames', message: 'x' }, ready('True', 'Synced', 'in sync')] }),
    ];
    const dir = join(repoRoot, 'test', 'env', 'argocd-health');
    const bin = join(tmp, 'argocd-health');
    const build = spawnSync('go', ['build', '-o', bin, '.'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    expect(build.status, build.stderr).toBe(0);
    const run = spawnSync(bin, [script], { input: JSON.stringify(objects), encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      { status: 'Progressing', message: 'Waiting for the operator to sync' },
      { status: 'Healthy', message: 'Synced: Secret openai holds version v1 of team-a/openai' },
      { status: 'Degraded', message: 'AccessDenied: GetSecretValue: AccessDeniedException' },
      { status: 'Progressing', message: 'Waiting for the operator to sync generation 2' },
      { status: 'Healthy', message: 'Synced: in sync' },
    ]);
  }, 360_000);
});
