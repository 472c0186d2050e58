// `external-llm-secrets check`: "why isn't my secret syncing?" answered step by step, with the
// operator's own modules (access rules, credential broker, the SecretSource port through the
// registry, target planning, render) and nothing written: no Secret, no status, no event. The
// values it reads are shown masked, never whole. Exit code 0 when every step passes, 1 at the
// first step that fails (named, with the reason the operator would set), 2 for bad usage.
import { readFileSync } from 'node:fs';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { loadAll as loadAllYaml } from 'js-yaml';
import { AwsClientFactory } from './aws/clients.js';
import { CredentialBroker } from './aws/credentials.js';
import { BatchFetcher } from './aws/batch-fetcher.js';
import { SourceCache } from './aws/source-cache.js';
import { AwsSecretsManagerSource } from './aws/source.js';
import { regionOfArn } from './aws/secrets-manager.js';
import { ConfigError, parseConfig, type Config } from './config.js';
import { errorSummary } from './controller/informer.js';
import { API_VERSION, KIND } from './crds/constants.js';
import type { ExternalLLMSecret } from './crds/types.js';
import { apiMessage, httpCode, KubeClient } from './kube/client.js';
import { createLogger } from './observability/logger.js';
import { decideRole, decideSecret } from './policy/access.js';
import { SourceRegistry } from './source/registry.js';
import { envFromWarning } from './sync/envfrom.js';
import { expiresAt } from './sync/expiry.js';
import { desiredSecret, planSecret } from './sync/plan.js';
import { isSyncError, Reason, SyncError } from './sync/reasons.js';
import { DEFAULT_LIMITS, renderSecretData } from './sync/render.js';

export const CHECK_USAGE = `external-llm-secrets check: a dry run of one ExternalLLMSecret, step by step. It reads the
resource, applies the access rules, resolves the identity, looks at the target Secret, reads the
AWS secret once and renders the keys (values masked), and says which step fails and why. It writes
nothing (no Secret, no status, no event).

Usage: external-llm-secrets check -f resource.yaml [-n NAMESPACE] [operator flags]
       external-llm-secrets check -n NAMESPACE --name NAME [operator flags]

  -f, --file PATH        the resource, as YAML or JSON (with several ExternalLLMSecrets: --name picks one)
  -n, --namespace NS     its namespace (default: the file's, else "default"); with --name and no -f, where
                         to read it from the cluster
  --name NAME            the resource's name
  operator flags         the same as the operator's, so the check sees what it would see: --access-rules /
                         --access-rules-file, --default-region, --aws-endpoint, --reader-role, --kubeconfig, ...
                         (external-llm-secrets --help lists them)

Exit code: 0 every step passed, 1 a step failed, 2 bad usage.
`;

type Step = 'resource' | 'access rules' | 'identity' | 'target' | 'read' | 'render';

export interface CheckOverrides {
  kubeConfig?: KubeConfig;
}

/** Runs the check, writing its report to out; resolves the exit code. */
export async function runCheck(argv: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, overrides: CheckOverrides = {}): Promise<number> {
  const say = (line = '') => { out.write(`${line}\n`); };
  if (argv.includes('--help') || argv.includes('-h')) { out.write(CHECK_USAGE); return 0; }
  let opts: CheckOptions;
  let config: Config;
  try {
    opts = checkOptions(argv);
    config = parseConfig(opts.rest, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    say(`${err.message}`);
    say('Usage: external-llm-secrets check -f resource.yaml | -n NAMESPACE --name NAME [operator flags] (check --help)');
    return 2;
  }

  const kubeConfig = overrides.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const kube = kubeConfig ? new KubeClient(kubeConfig, undefined, config.kubeRequestTimeoutMs) : undefined;
  const clients = new AwsClientFactory({
    secretsManagerEndpoint: config.secretsManagerEndpoint, secretsManagerEndpoints: config.secretsManagerEndpoints, stsEndpoint: config.stsEndpoint,
    maxAttempts: config.awsMaxAttempts, connectTimeoutMs: config.awsConnectTimeoutMs, requestTimeoutMs: config.awsRequestTimeoutMs,
  });
  const sources = new SourceCache(0);
  const noKube = () => Promise.reject(new Error('no Kubernetes configuration: pass --kubeconfig'));
  const broker = new CredentialBroker({
    clients, stsRegion: config.stsRegion, sessionTags: config.sessionTags, readerRole: config.readerRole,
    kube: kube ?? { getSecret: noKube, getServiceAccount: noKube, createServiceAccountToken: noKube },
  });
  const registry = new SourceRegistry([new AwsSecretsManagerSource({
    broker, clients, sources, accessRules: config.accessRules, defaultRegion: config.defaultRegion,
    fetcher: new BatchFetcher(createLogger('silent'), { enabled: false }),
  })]);

  const line = (ok: boolean | 'warn', step: string, text: string) => say(`  ${ok === 'warn' ? '!' : ok ? '✓' : '✗'} ${step.padEnd(13)} ${text}`);
  let step: Step = 'resource';
  try {
    // 1. The resource.
    const els = opts.file ? fromFile(opts.file, opts.namespace, opts.name) : await fromCluster(kube, opts.namespace!, opts.name!);
    const { namespace, name } = els.metadata;
    const { spec } = els;
    say(`external-llm-secrets check: ${namespace}/${name}${opts.file ? ` (from ${opts.file})` : ' (from the cluster)'}`);
    if (!spec?.source?.secretId) throw new SyncError(Reason.InvalidSpec, 'spec.source.secretId is missing');
    const region = spec.source.region ?? regionOfArn(spec.source.secretId) ?? config.defaultRegion;
    const what = spec.provider ? `preset ${spec.provider}` : spec.dataFrom ? 'dataFrom' : `${spec.data?.length ?? 0} data entries`;
    line(true, 'resource', `source ${spec.source.secretId} in ${region}${spec.source.versionId ? ` (version ${spec.source.versionId})` : spec.source.versionStage ? ` (stage ${spec.source.versionStage})` : ''}, ${what}`);
    const ready = els.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready) line(ready.status === 'True' ? true : 'warn', 'status', `the operator last set Ready=${ready.status} ${ready.reason}${ready.status === 'True' ? '' : `: ${ready.message ?? ''}`}`);

    // 2. Access rules: the operator's own decision, before any AWS call.
    step = 'access rules';
    const auth = spec.auth ?? {};
    if (auth.roleArn) {
      const d = decideRole(config.accessRules, namespace, auth.roleArn, auth.serviceAccountRef !== undefined);
      if (!d.allowed) throw new SyncError(Reason.RoleNotPermitted, d.why);
      line(true, step, `namespace ${namespace} may assume ${auth.roleArn}${auth.serviceAccountRef ? ' (through its ServiceAccount: IAM decides too)' : ''}`);
    } else if (auth.serviceAccountRef) {
      line(true, step, `none apply: the ServiceAccount ${namespace}/${auth.serviceAccountRef.name} reads, and IAM decides`);
    } else {
      const d = decideSecret(config.accessRules, namespace, spec.source.secretId);
      if (!d.allowed) throw new SyncError(Reason.SourceNotPermitted, `${d.why}; add a rule such as {"namespaces":["${namespace}"],"secrets":["${spec.source.secretId}"]} to --access-rules (chart value accessRules)`);
      line(true, step, `namespace ${namespace} may read ${spec.source.secretId} with the operator's identity`);
    }

    // 3. Identity: the broker resolves it (STS calls, ServiceAccount tokens) as the operator would.
    step = 'identity';
    const identity = await broker.resolve(els);
    const who = await callerArn(clients, identity.key, config.stsRegion, identity.credentials);
    const how = auth.serviceAccountRef ? `ServiceAccount ${namespace}/${auth.serviceAccountRef.name}${identity.roleArn ? ` → ${identity.roleArn}` : ''}`
      : identity.roleArn ? `role ${identity.roleArn}${config.readerRole && !auth.roleArn ? ' (--reader-role, session tagged with the namespace)' : ''}` : 'the operator\'s own identity';
    line(true, step, `${how}${who ? `: ${who}` : ''}`);
    const session = await registry.for(els).open(els);

    // 4. The target Secret: what the operator would refuse before reading.
    step = 'target';
    const targetName = spec.target?.name ?? name;
    let live;
    let reachable = true;
    try {
      live = kube ? await kube.getSecret(namespace, targetName) : undefined;
      if (!kube) reachable = false;
    } catch (err) {
      if (httpCode(err) !== undefined) throw new SyncError(Reason.KubernetesError, `reading Secret ${namespace}/${targetName}: ${apiMessage(err)}`);
      reachable = false;
    }
    if (!reachable && opts.file) {
      line('warn', step, `skipped: the cluster cannot be reached (${kube ? 'connection failed' : 'no kubeconfig'}), so Secret ${namespace}/${targetName} was not looked at`);
    } else {
      const plan = planSecret(desiredSecret(els, {}), live);
      if (plan.action === 'refuse') throw new SyncError(plan.reason, plan.message);
      line(true, step, live ? `Secret ${namespace}/${targetName} exists and this resource may write it` : `Secret ${namespace}/${targetName} does not exist yet: it would be created`);
    }

    // 5. One read of the source.
    step = 'read';
    const read = await session.read({ maxAgeMs: 0, tags: spec.expiry?.tag !== undefined });
    const size = read.secretString !== undefined ? `${Buffer.byteLength(read.secretString)} bytes of text` : read.secretBinary ? `${read.secretBinary.length} bytes of binary` : 'no value';
    line(true, step, `version ${read.versionId}${read.versionStages?.length ? ` (${read.versionStages.join(', ')})` : ''}${read.createdDate ? `, created ${read.createdDate.toISOString()}` : ''}: ${size}`);

    // 6. Render, as the operator would write it.
    step = 'render';
    const rendered = renderSecretData(spec, read, { ...DEFAULT_LIMITS, maxValueBytes: config.maxValueBytes });
    line(true, step, `${rendered.keys.length} ${rendered.keys.length === 1 ? 'key' : 'keys'}, values masked:`);
    const masked = rendered.keys.map((k) => [k.secretKey, mask(rendered.data[k.secretKey]!), k.property === undefined ? 'the whole SecretString' : `JSON key ${k.property}`] as const);
    const [w0, w1] = [0, 1].map((i) => Math.max(...masked.map((m) => m[i]!.length)));
    for (const [key, value, from] of masked) say(`      ${key.padEnd(w0!)}  ${value.padEnd(w1!)}  ← ${from}`);
    const warning = envFromWarning(spec, rendered.keys.map((k) => k.secretKey));
    if (warning) line('warn', 'envFrom', warning.message);
    if (spec.expiry) {
      const at = expiresAt(spec.expiry, read);
      if (at) line(at.getTime() > Date.now() ? true : 'warn', 'expiry', `the key ${at.getTime() > Date.now() ? 'expires' : 'expired'} at ${at.toISOString()}`);
    }
    say(`OK: the operator would write ${rendered.keys.length} ${rendered.keys.length === 1 ? 'key' : 'keys'} into Secret ${namespace}/${targetName}. Nothing was written.`);
    return 0;
  } catch (err) {
    const failure = isSyncError(err) ? err : new SyncError(Reason.KubernetesError, `unexpected ${errorSummary(err)}: ${err instanceof Error ? err.message.slice(0, 200) : ''}`);
    if (step === 'resource' && !isSyncError(err)) {
      say(`cannot read the resource: ${(err as Error).message}`);
      return 1;
    }
    line(false, step, `${failure.reason}: ${failure.message}`);
    say(`FAILED at "${step}": ${failure.reason}${failure.retryable ? ' (the operator retries this with backoff)' : ''}. Nothing was written.`);
    return 1;
  } finally {
    sources.stop();
    clients.destroy();
  }
}

interface CheckOptions {
  file?: string;
  namespace?: string;
  name?: string;
  /** The operator flags, for parseConfig. */
  rest: string[];
}

/** Takes check's own flags out of argv; what is left goes to the operator's flag parser. */
export function checkOptions(argv: string[]): CheckOptions {
  const own = new Map([['-f', 'file'], ['--file', 'file'], ['-n', 'namespace'], ['--namespace', 'namespace'], ['--name', 'name']] as const);
  const found: Partial<Record<'file' | 'namespace' | 'name', string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') && arg.startsWith('-') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const key = own.get(flag as never);
    if (!key) { rest.push(arg); continue; }
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new ConfigError(`${flag} needs a value`);
    found[key] = value;
  }
  if (!found.file && !(found.namespace && found.name)) throw new ConfigError('check needs -f FILE, or --namespace and --name of a resource in the cluster');
  // The rest are the operator's flags: parseConfig parses them strictly ("did you mean").
  return { ...found, rest };
}

function fromFile(path: string, namespace: string | undefined, name: string | undefined): ExternalLLMSecret {
  let docs: unknown[];
  try {
    docs = loadAllYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const all = docs.filter((d): d is ExternalLLMSecret => !!d && typeof d === 'object' && (d as { kind?: string }).kind === KIND);
  const picked = name ? all.filter((d) => d.metadata?.name === name) : all;
  if (picked.length === 0) throw new Error(`${path} holds no ${KIND}${name ? ` named ${name}` : ''} (apiVersion ${API_VERSION})`);
  if (picked.length > 1) throw new Error(`${path} holds ${picked.length} ${KIND}s (${picked.map((d) => d.metadata?.name).join(', ')}): pick one with --name`);
  const els = picked[0]!;
  return { ...els, metadata: { ...els.metadata, name: els.metadata?.name ?? 'unnamed', namespace: namespace ?? els.metadata?.namespace ?? 'default' } };
}

async function fromCluster(kube: KubeClient | undefined, namespace: string, name: string): Promise<ExternalLLMSecret> {
  if (!kube) throw new Error('no Kubernetes configuration: pass --kubeconfig, or check a file with -f');
  try {
    return await kube.getExternalLLMSecret(namespace, name);
  } catch (err) {
    if (httpCode(err) === 404) throw new Error(`ExternalLLMSecret ${namespace}/${name} not found`);
    throw new Error(`reading ExternalLLMSecret ${namespace}/${name}: ${httpCode(err) !== undefined ? apiMessage(err) : errorSummary(err)}`);
  }
}

function loadKubeConfig(path: string | undefined): KubeConfig | undefined {
  try {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path); else kc.loadFromDefault();
    return kc.getCurrentCluster() ? kc : undefined;
  } catch {
    return undefined;
  }
}

/** Who AWS says the resolved identity is; informative only, so a failure just leaves it out. */
async function callerArn(clients: AwsClientFactory, key: string, region: string, credentials: Parameters<AwsClientFactory['sts']>[2]): Promise<string | undefined> {
  try {
    return (await clients.sts(key, region, credentials).send(new GetCallerIdentityCommand({}))).Arn;
  } catch {
    return undefined;
  }
}

/** Enough to recognise a value, never enough to use it: a short prefix of long text, and its size. */
export function mask(value: Buffer): string {
  const text = value.toString('utf8');
  const printable = Buffer.from(text, 'utf8').equals(value) && /^[\x20-\x7e]*$/.test(text);
  return printable && text.length >= 16 ? `${text.slice(0, 3)}******** (${value.length} bytes)` : `******** (${value.length} bytes)`;
}
