// `external-llm-secrets check`, run as users run it: the built operator (tsc's output) as
// a child process, against the suite's apiserver and moto, with no operator running. Each case:
// the exit code, the step that passes or fails with the operator's reason, no value printed
// whole, and nothing written to the cluster.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExternalLLMSecretSpec } from '../src/crds/types.js';
import { apiserverRequestCount, applyCrds, createSecret, createTestNamespace, deleteTestNamespace, getTestEnv, repoRoot, WRITE_VERBS } from './env/index.js';
import { core, createEls, events, getEls } from './helpers/els.js';

const dir = mkdtempSync(join(tmpdir(), 'els-check-'));
const run = `${process.pid}-${Date.now().toString(36)}`;
const sid = (name: string) => `check-${run}/${name}`;
const marker = (name: string) => `SECRETVALUE-check-${name}-0123456789`;
let ns: string;

/** The built operator: the bundle `npm run build` makes and the image runs (scripts/bundle.mjs). */
let mainJs: string;

beforeAll(async () => {
  mainJs = join(getTestEnv().logsDir, 'check-build', 'operator.mjs');
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'bundle.mjs'), '--outfile', mainJs], { cwd: repoRoot, stdio: 'inherit' });
  await applyCrds();
  ns = await createTestNamespace('check');
}, 180_000);
afterAll(async () => {
  await deleteTestNamespace(ns);
});

interface Result { code: number | null; stdout: string; stderr: string }

/** node dist/operator.mjs ARGS: the built binary, as users and the image run it. */
function cli(args: string[], opts: { rules?: unknown[] } = {}): Promise<Result> {
  const env = getTestEnv();
  const flags = args[0] === 'check' ? ['--kubeconfig', env.kubeconfigPath, '--aws-endpoint', env.motoEndpoint, '--sts-endpoint', env.motoEndpoint,
    '--access-rules', JSON.stringify(opts.rules ?? [{ namespaces: ['*'], secrets: [`check-${run}/*`] }])] : [];
  return new Promise((resolve) => {
    execFile(process.execPath, [mainJs, ...args, ...flags], {
      cwd: repoRoot, timeout: 60_000,
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', KUBECONFIG: '' },
    }, (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout, stderr }));
  });
}

function resourceFile(name: string, spec: ExternalLLMSecretSpec, namespace?: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify({ apiVersion: 'llmsecrets.dev/v1alpha1', kind: 'ExternalLLMSecret', metadata: { name, ...(namespace ? { namespace } : {}) }, spec }));
  return file;
}

/** The cluster's write counters for what the operator writes, and this namespace's contents. */
async function footprint(): Promise<string> {
  const writes = await Promise.all(['secrets', 'externalllmsecrets', 'events'].map((resource) => apiserverRequestCount({ verb: WRITE_VERBS, resource })));
  const secrets = (await core().listNamespacedSecret({ namespace: ns })).items.map((s) => s.metadata!.name).sort();
  const evs = (await core().listNamespacedEvent({ namespace: ns })).items.length;
  return JSON.stringify({ writes, secrets, events: evs });
}

/** Runs check and asserts it wrote nothing and printed no value whole. */
async function check(args: string[], opts: { rules?: unknown[]; values?: string[] } = {}): Promise<Result> {
  const before = await footprint();
  const result = await cli(['check', ...args], opts);
  expect(await footprint(), 'nothing written').toBe(before);
  for (const v of opts.values ?? []) expect(result.stdout + result.stderr).not.toContain(v);
  expect(result.stdout + result.stderr).not.toContain('SECRETVALUE-');
  return result;
}

describe('external-llm-secrets check -f', () => {
  it('passes every step for a resource that would sync, shows the keys masked and where each came from', async () => {
    const value = marker('ok');
    await createSecret(getTestEnv().motoEndpoint, sid('openai'), { api_key: value, organization: 'org-check-0001' });
    const file = resourceFile('openai', { source: { secretId: sid('openai') }, provider: 'openai' }, ns);
    const r = await check(['-f', file], { values: [value, 'org-check-0001'] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`external-llm-secrets check: ${ns}/openai (from ${file})`);
    expect(r.stdout).toMatch(new RegExp(`✓ resource +source ${sid('openai')} in us-east-1, preset openai`));
    expect(r.stdout).toMatch(new RegExp(`✓ access rules +namespace ${ns} may read ${sid('openai')} with the operator's identity`));
    expect(r.stdout).toMatch(/✓ identity +the operator's own identity: arn:aws:/);
    expect(r.stdout).toMatch(new RegExp(`✓ target +Secret ${ns}/openai does not exist yet: it would be created`));
    expect(r.stdout).toMatch(/✓ read +version [0-9a-f-]+ \(AWSCURRENT\), created \d{4}-/);
    expect(r.stdout).toMatch(/✓ render +2 keys, values masked:/);
    expect(r.stdout).toMatch(new RegExp(`OPENAI_API_KEY +SEC\\*{8} \\(${value.length} bytes\\) +← JSON key api_key`));
    expect(r.stdout).toMatch(/OPENAI_ORG_ID +\*{8} \(14 bytes\) +← JSON key organization/);
    expect(r.stdout).toContain(`OK: the operator would write 2 keys into Secret ${ns}/openai. Nothing was written.`);
  });

  it('a grant the access rules refuse: fails at "access rules" with SourceNotPermitted and the rule to add', async () => {
    const file = resourceFile('refused', { source: { secretId: 'someone-else/openai' }, provider: 'openai' }, ns);
    const r = await check(['-f', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`✗ access rules +SourceNotPermitted: secret someone-else/openai is not permitted for namespace ${ns}`));
    expect(r.stdout).toContain(`add a rule such as {"namespaces":["${ns}"],"secrets":["someone-else/openai"]} to --access-rules`);
    expect(r.stdout).toContain('FAILED at "access rules": SourceNotPermitted. Nothing was written.');
    expect(r.stdout).not.toContain('✓ identity');
  });

  it('a role the access rules refuse: RoleNotPermitted', async () => {
    const file = resourceFile('role', { source: { secretId: sid('openai') }, provider: 'openai', auth: { roleArn: 'arn:aws:iam::123456789012:role/other-team' } }, ns);
    const r = await check(['-f', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ access rules +RoleNotPermitted: role arn:aws:iam::123456789012:role\/other-team is not permitted/);
  });

  it('a secret without the preset\'s key: fails at "render" with MissingProperty naming the keys it tried', async () => {
    const value = marker('missing');
    await createSecret(getTestEnv().motoEndpoint, sid('missing'), { something_else: value });
    const r = await check(['-f', resourceFile('missing', { source: { secretId: sid('missing') }, provider: 'anthropic' }), '-n', ns], { values: [value] });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✓ read +version/);
    expect(r.stdout).toMatch(/✗ render +MissingProperty: secret check-.*\/missing: preset anthropic needs one of the JSON keys ANTHROPIC_API_KEY, api_key, apiKey, key, token for ANTHROPIC_API_KEY \(or store the key alone, as a plain string\)/);
    expect(r.stdout).toContain('FAILED at "render": MissingProperty');
  });

  it('a secret that does not exist: fails at "read" with ResourceNotFound', async () => {
    const r = await check(['-f', resourceFile('absent', { source: { secretId: sid('absent') }, provider: 'openai' }, ns)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ read +ResourceNotFound: /);
  });

  it('a plain-string secret: the single-key preset takes it whole; a multi-key preset fails at "render" with InvalidJSON saying what it expected', async () => {
    const value = marker('plain');
    await createSecret(getTestEnv().motoEndpoint, sid('plain'), value);
    const ok = await check(['-f', resourceFile('plain', { source: { secretId: sid('plain') }, provider: 'openai' }, ns)], { values: [value] });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`OPENAI_API_KEY +SEC\\*{8} \\(${value.length} bytes\\) +← the whole SecretString`));
    const bad = await check(['-f', resourceFile('plain-iam', { source: { secretId: sid('plain') }, provider: 'bedrock-iam' }, ns)], { values: [value] });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/✗ render +InvalidJSON: secret check-.*\/plain: SecretString is not valid JSON; preset bedrock-iam reads a JSON object with AWS_ACCESS_KEY_ID .* and AWS_SECRET_ACCESS_KEY .*for example \{"AWS_ACCESS_KEY_ID": "...", "AWS_SECRET_ACCESS_KEY": "..."\}; to copy the whole SecretString into one key, use a data entry without property/);
  });

  it('a target Secret it may not write: fails at "target" with SecretConflict, before the read', async () => {
    await core().createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'foreign' }, stringData: { THEIRS: 'x' } } });
    const r = await check(['-f', resourceFile('foreign', { source: { secretId: sid('openai') }, provider: 'openai' }, ns)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ target +SecretConflict: /);
    expect(r.stdout).not.toContain('✓ read');
  });

  it('keys envFrom cannot use are flagged, with the fix', async () => {
    await createSecret(getTestEnv().motoEndpoint, sid('dashes'), { 'api-key': marker('dash') });
    const r = await check(['-f', resourceFile('dashes', { source: { secretId: sid('dashes') }, dataFrom: {} }, ns)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/! envFrom +key api-key → API_KEY: not environment variable names.*Fix: add dataFrom\.rewrite: \[\{transform: UpperSnakeCase\}\]/);
  });
});

describe('external-llm-secrets check --namespace --name', () => {
  it('reads the resource from the cluster, shows what the operator last said, and changes nothing on it', async () => {
    await createEls(ns, 'in-cluster', { source: { secretId: sid('openai') }, provider: 'openai' });
    const before = await getEls(ns, 'in-cluster');
    const r = await check(['--namespace', ns, '--name', 'in-cluster']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`external-llm-secrets check: ${ns}/in-cluster (from the cluster)`);
    expect(r.stdout).toContain(`OK: the operator would write 2 keys into Secret ${ns}/in-cluster`);
    const after = await getEls(ns, 'in-cluster');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.status).toBeUndefined();
    expect(await events(ns, 'in-cluster')).toEqual([]);
  });

  it('a resource that is not there: exit 1 naming it', async () => {
    const r = await check(['-n', ns, '--name', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`ExternalLLMSecret ${ns}/nope not found`);
  });
});

describe('usage errors', () => {
  it('check without a resource, or with a misspelt operator flag: exit 2 and what to do', async () => {
    const none = await cli(['check']);
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('check needs -f FILE, or --namespace and --name');
    const typo = await cli(['check', '-f', 'x.yaml', '--acess-rules', '[]']);
    expect(typo.code).toBe(2);
    expect(typo.stdout).toContain('unknown flag --acess-rules: did you mean --access-rules?');
  });

  it('the operator itself: a misspelt flag says what was meant, without the whole usage', async () => {
    const r = await cli(['--namspaces', 'a']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('unknown flag --namspaces: did you mean --namespaces? (--help lists every flag)\n');
  });
});
