// Operator configuration: flags and environment, parsed and validated once at start-up. Every
// default is defined here, once.
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { LevelWithSilent } from 'pino';
import type { SessionTagMode } from './aws/credentials.js';
import { LEADER_DEFAULTS } from './controller/leader.js';
import { parseAccessRules, type AccessRule } from './policy/access.js';
import { durationProblem, parseDuration } from './sync/duration.js';
import { MIN_HASH_KEY_BYTES } from './sync/hash.js';
import { DEFAULT_LIMITS } from './sync/render.js';

export const DEFAULTS = {
  concurrent: 10,
  defaultRegion: 'us-east-1',
  logLevel: 'info' as LevelWithSilent,
  metricsPort: 8080,
  healthPort: 8081,
  leaseName: 'external-llm-secrets-leader',
  relistInterval: '10m',
  sourceCacheTtl: '30s',
  refreshShareWindow: '5s',
  sessionTags: 'namespace' as SessionTagMode,
  awsMaxAttempts: 3,
  awsConnectTimeout: '5s',
  awsRequestTimeout: '30s',
  kubeRequestTimeout: '30s',
  // Event-driven refresh (src/events)
  eventsPollMultiplier: 10,
};

export interface Config {
  kubeconfig?: string;
  namespaces: string[];
  selector?: string;
  concurrent: number;
  defaultRegion: string;
  secretsManagerEndpoint?: string;
  /** Per-region Secrets Manager endpoints (VPC endpoints), over secretsManagerEndpoint. */
  secretsManagerEndpoints: Record<string, string>;
  stsEndpoint?: string;
  stsRegion: string;
  awsMaxAttempts: number;
  /** Per AWS HTTP attempt: TCP (and TLS) connect, then the whole request and response. */
  awsConnectTimeoutMs: number;
  awsRequestTimeoutMs: number;
  /** Per Kubernetes API request, watches excepted. */
  kubeRequestTimeoutMs: number;
  logLevel: LevelWithSilent;
  metricsPort: number;
  healthPort: number;
  perResourceMetrics: boolean;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Deny by default: which namespace reaches which secret (operator identity) and role. */
  accessRules: AccessRule[];
  /** Flags still accepted but deprecated: logged as warnings at start-up. */
  deprecations: string[];
  sessionTags: SessionTagMode;
  /** ABAC: resources without spec.auth read through this role, in a session tagged with their namespace. */
  readerRole?: string;
  /** Generated keys (spec.generate) of resources without spec.auth are minted from sessions of this role. */
  generatorRole?: string;
  hashKey?: Buffer;
  maxValueBytes: number;
  relistMs: number;
  sourceCacheTtlMs: number;
  refreshShareWindowMs: number;
  identity: string;
  checkAwsIdentity: boolean;
  /** ListSecrets-based change detection. */
  changeDetection: boolean;
  /** BatchGetSecretValue for reads due together. */
  batchGet: boolean;
  // Event-driven refresh (src/events)
  /** SQS queue an EventBridge rule fills with Secrets Manager change events; none: polling only. */
  eventsQueueUrl?: string;
  /** With events on (and the queue answering), polling runs at refreshInterval × this. */
  eventsPollMultiplier: number;
}

export const USAGE = `external-llm-secrets: syncs AWS Secrets Manager secrets into Kubernetes Secrets.

Usage: external-llm-secrets [flags]
       external-llm-secrets check -f resource.yaml [flags]   a dry run of one resource: which step fails and why
                                                             (writes nothing; check --help)

  --kubeconfig PATH              kubeconfig to use (default: $KUBECONFIG, then in-cluster)
  --namespaces A,B               namespaces to watch (default: all; env WATCH_NAMESPACES)
  --selector LABELS              only ExternalLLMSecrets matching this label selector (sharding)
  --concurrent N                 reconciles at once (default ${DEFAULTS.concurrent})
  --default-region REGION        region when a resource names none (default: $AWS_REGION or ${DEFAULTS.defaultRegion})
  --aws-endpoint URL             Secrets Manager endpoint (VPC endpoint; an emulator in tests)
  --aws-endpoints R=URL,...      Secrets Manager endpoint per region (VPC endpoints), over --aws-endpoint
  --sts-endpoint URL             STS endpoint (default: the regional endpoint)
  --sts-region REGION            region for STS calls (default: the default region)
  --aws-max-attempts N           SDK attempts per AWS call, retries included (default ${DEFAULTS.awsMaxAttempts})
  --aws-connect-timeout D        longest an AWS connection may take to open (default ${DEFAULTS.awsConnectTimeout})
  --aws-request-timeout D        longest one AWS HTTP attempt may take, answer included (default ${DEFAULTS.awsRequestTimeout})
  --kube-request-timeout D       longest one Kubernetes API request may take; watches excepted (default ${DEFAULTS.kubeRequestTimeout})
  --log-level LEVEL              trace|debug|info|warn|error (default ${DEFAULTS.logLevel})
  --metrics-port N               /metrics port, 0 disables (default ${DEFAULTS.metricsPort})
  --health-port N                /healthz and /readyz port, 0 disables (default ${DEFAULTS.healthPort})
  --per-resource-metrics         add a name label to the sync histogram (small clusters only)
  --leader-elect                 elect a leader on a Lease before reconciling
  --leader-election-namespace NS namespace of the Lease (default: $POD_NAMESPACE or default)
  --leader-election-id NAME      Lease name; one per shard (default ${DEFAULTS.leaseName})
  --lease-duration D             (default ${LEADER_DEFAULTS.leaseDurationMs / 1000}s)
  --renew-deadline D             (default ${LEADER_DEFAULTS.renewDeadlineMs / 1000}s)
  --retry-period D               (default ${LEADER_DEFAULTS.retryPeriodMs / 1000}s)
  --access-rules JSON            deny by default: which namespaces may read which secrets with the operator's
                                 own identity, and assume which roles through spec.auth.roleArn:
                                 [{"namespaces":["*"],"secrets":["\${namespace}/*"]},
                                  {"namespaces":["team-a"],"roles":["arn:aws:iam::111122223333:role/llm-*"]}]
  --access-rules-file PATH       the same, from a file (a mounted ConfigMap); or $ELS_ACCESS_RULES
  --role-rules, --role-rules-file  deprecated: role-only access rules (use --access-rules)
  --session-tags MODE            STS session tags (llmsecrets-namespace, llmsecrets-name) on spec.auth.roleArn
                                 sessions: namespace|namespace-and-name|off (default ${DEFAULTS.sessionTags})
  --reader-role ARN              resources without spec.auth read through this role, one session per namespace
                                 tagged llmsecrets-namespace=<namespace>, so IAM can enforce the tenancy (ABAC)
  --generator-role ARN           generated keys (spec.generate) of resources without spec.auth are minted from a
                                 dedicated session of this role, for namespaces granted "generate" in the rules
  --hash-key-file PATH           key for status.dataHash, at least ${MIN_HASH_KEY_BYTES} bytes (default: $ELS_HASH_KEY, else random per process)
  --max-value-bytes N            largest single value written (default ${DEFAULT_LIMITS.maxValueBytes})
  --relist-interval D            full relist of watched objects (default ${DEFAULTS.relistInterval})
  --source-cache-ttl D           longest a secret value stays in memory (default ${DEFAULTS.sourceCacheTtl})
  --no-aws-identity-check        skip sts:GetCallerIdentity at start-up
  --no-change-detection          read every due secret instead of asking ListSecrets which changed
  --no-batch-get                 read secrets one by one instead of BatchGetSecretValue
  --events-queue-url URL         SQS queue of Secrets Manager change events (EventBridge rule): the leader
                                 requeues the resources of a changed secret at once (env ELS_EVENTS_QUEUE_URL)
  --events-poll-multiplier N     with events on, poll at refreshInterval × N, the safety net; back to
                                 refreshInterval while the queue does not answer (default ${DEFAULTS.eventsPollMultiplier})
  --version                      print the version and exit
  --help                         print this help and exit
`;

export class ConfigError extends Error {}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const { values } = parseFlags({
    args: argv,
    strict: true,
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      selector: { type: 'string' },
      concurrent: { type: 'string' },
      'default-region': { type: 'string' },
      'aws-endpoint': { type: 'string' },
      'sts-endpoint': { type: 'string' },
      'aws-endpoints': { type: 'string' },
      'sts-region': { type: 'string' },
      'aws-max-attempts': { type: 'string' },
      'aws-connect-timeout': { type: 'string' },
      'aws-request-timeout': { type: 'string' },
      'kube-request-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'per-resource-metrics': { type: 'boolean' },
      'leader-elect': { type: 'boolean' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      'access-rules': { type: 'string' },
      'reader-role': { type: 'string' },
      'generator-role': { type: 'string' },
      'access-rules-file': { type: 'string' },
      'role-rules': { type: 'string' },
      'role-rules-file': { type: 'string' },
      'session-tags': { type: 'string' },
      'hash-key-file': { type: 'string' },
      'max-value-bytes': { type: 'string' },
      'relist-interval': { type: 'string' },
      'source-cache-ttl': { type: 'string' },
      'no-aws-identity-check': { type: 'boolean' },
      'no-change-detection': { type: 'boolean' },
      'no-batch-get': { type: 'boolean' },
      'events-queue-url': { type: 'string' },
      'events-poll-multiplier': { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number, min = 0): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be a whole number of at least ${min}, not "${text}"`);
    return n;
  };
  const duration = (name: string, text: string | undefined, fallback: string | number): number => {
    if (text === undefined) return typeof fallback === 'number' ? fallback : parseDuration(fallback)!;
    const ms = parseDuration(text);
    if (ms === undefined) throw new ConfigError(`--${name} must be a duration: ${durationProblem(text)}`);
    return ms;
  };
  // A timeout of 0 would mean "wait for ever", the very hang these flags exist to prevent.
  const timeout = (name: string, text: string | undefined, fallback: string): number => {
    const ms = duration(name, text, fallback);
    if (ms <= 0) throw new ConfigError(`--${name} must be longer than 0, not "${text}"`);
    return ms;
  };
  const logLevel = (values['log-level'] ?? env.LOG_LEVEL ?? DEFAULTS.logLevel) as LevelWithSilent;
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of trace, debug, info, warn, error, not "${logLevel}"`);
  }
  const sessionTags = (values['session-tags'] ?? DEFAULTS.sessionTags) as SessionTagMode;
  if (!['off', 'namespace', 'namespace-and-name'].includes(sessionTags)) {
    throw new ConfigError(`--session-tags must be namespace, namespace-and-name or off, not "${sessionTags}"`);
  }
  const { accessRules, deprecations } = accessRulesFrom(values, env);
  const hashKey = parseHashKey(values['hash-key-file'], env.ELS_HASH_KEY);
  const namespaces = (values.namespaces ?? env.WATCH_NAMESPACES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const defaultRegion = values['default-region'] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? DEFAULTS.defaultRegion;
  const hostname = env.POD_NAME ?? env.HOSTNAME ?? 'external-llm-secrets';
  return {
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG,
    namespaces,
    selector: values.selector,
    concurrent: int('concurrent', values.concurrent, DEFAULTS.concurrent, 1),
    defaultRegion,
    secretsManagerEndpoint: values['aws-endpoint'] ?? env.ELS_AWS_ENDPOINT,
    secretsManagerEndpoints: parseRegionMap(values['aws-endpoints']),
    stsEndpoint: values['sts-endpoint'] ?? env.ELS_STS_ENDPOINT,
    stsRegion: values['sts-region'] ?? defaultRegion,
    awsMaxAttempts: int('aws-max-attempts', values['aws-max-attempts'], DEFAULTS.awsMaxAttempts, 1),
    awsConnectTimeoutMs: timeout('aws-connect-timeout', values['aws-connect-timeout'], DEFAULTS.awsConnectTimeout),
    awsRequestTimeoutMs: timeout('aws-request-timeout', values['aws-request-timeout'], DEFAULTS.awsRequestTimeout),
    kubeRequestTimeoutMs: timeout('kube-request-timeout', values['kube-request-timeout'], DEFAULTS.kubeRequestTimeout),
    logLevel,
    metricsPort: int('metrics-port', values['metrics-port'], DEFAULTS.metricsPort),
    healthPort: int('health-port', values['health-port'], DEFAULTS.healthPort),
    perResourceMetrics: values['per-resource-metrics'] ?? false,
    leaderElect: values['leader-elect'] ?? false,
    leaseNamespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'default',
    leaseName: values['leader-election-id'] ?? DEFAULTS.leaseName,
    leaseDurationMs: duration('lease-duration', values['lease-duration'], LEADER_DEFAULTS.leaseDurationMs),
    renewDeadlineMs: duration('renew-deadline', values['renew-deadline'], LEADER_DEFAULTS.renewDeadlineMs),
    retryPeriodMs: duration('retry-period', values['retry-period'], LEADER_DEFAULTS.retryPeriodMs),
    accessRules,
    deprecations,
    sessionTags,
    readerRole: values['reader-role'] ?? env.ELS_READER_ROLE,
    generatorRole: values['generator-role'] ?? env.ELS_GENERATOR_ROLE,
    hashKey,
    maxValueBytes: int('max-value-bytes', values['max-value-bytes'], DEFAULT_LIMITS.maxValueBytes, 1),
    relistMs: duration('relist-interval', values['relist-interval'], DEFAULTS.relistInterval),
    sourceCacheTtlMs: duration('source-cache-ttl', values['source-cache-ttl'], DEFAULTS.sourceCacheTtl),
    refreshShareWindowMs: parseDuration(DEFAULTS.refreshShareWindow)!,
    identity: `${hostname}_${process.pid}`,
    checkAwsIdentity: !(values['no-aws-identity-check'] ?? false),
    changeDetection: !(values['no-change-detection'] ?? false),
    batchGet: !(values['no-batch-get'] ?? false),
    ...eventsConfig(values['events-queue-url'] ?? env.ELS_EVENTS_QUEUE_URL, int('events-poll-multiplier', values['events-poll-multiplier'], DEFAULTS.eventsPollMultiplier, 1)),
  };
}

/**
 * parseArgs, with its errors for unknown flags and stray arguments turned into ConfigErrors that
 * say what was probably meant ("--namspaces": did you mean --namespaces?).
 */
export function parseFlags<T extends ParseArgsConfig & { options: Record<string, unknown> }>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const message = (err as Error).message;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'(-{1,2}[^'=\s]+)/.exec(message)?.[1] ?? '';
      const known = Object.keys(config.options);
      const near = closest(flag.replace(/^-+/, ''), known);
      throw new ConfigError(`unknown flag ${flag}${near ? `: did you mean --${near}?` : ''} (--help lists every flag)`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']*)'/.exec(message)?.[1] ?? '';
      throw new ConfigError(`unexpected argument "${arg}": give flags as --flag VALUE or --flag=VALUE (--help lists every flag)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new ConfigError(message);
    throw err;
  }
}

/** The candidate nearest to text by edit distance, when it is near enough to be a typo. */
export function closest(text: string, candidates: string[]): string | undefined {
  // A flag cut short ("--leader") means the shortest flag it begins.
  const started = text.length >= 4 ? candidates.filter((c) => c.startsWith(text)).sort((a, b) => a.length - b.length)[0] : undefined;
  if (started) return started;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(text, c);
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  // A third of the length: "namspaces" → namespaces, "concurent" → concurrent, not "x" → "help".
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) && bestDistance < text.length) return best;
  return undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** --events-queue-url must be a queue URL: http(s)://host/<account>/<queue name>. */
function eventsConfig(url: string | undefined, multiplier: number): Pick<Config, 'eventsQueueUrl' | 'eventsPollMultiplier'> {
  if (url === undefined || url === '') return { eventsPollMultiplier: multiplier };
  if (!/^https?:\/\/[^/]+\/\d{12}\/[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(url)) {
    throw new ConfigError(`--events-queue-url must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/111122223333/llm-secret-events, not "${url}"`);
  }
  return { eventsQueueUrl: url, eventsPollMultiplier: multiplier };
}

export function wantsHelp(argv: string[]): 'help' | 'version' | undefined {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  if (argv.includes('--version')) return 'version';
  return undefined;
}

/**
 * The key for status.dataHash: the file's content (surrounding whitespace trimmed), else
 * ELS_HASH_KEY, as UTF-8 bytes; undefined when neither is set (a random key per process). A key
 * shorter than MIN_HASH_KEY_BYTES is refused: it could be guessed, and with it every hash checked.
 */
export function parseHashKey(file: string | undefined, envValue: string | undefined): Buffer | undefined {
  let text: string;
  let from: string;
  if (file !== undefined) {
    text = readFileSync(file, 'utf8').trim();
    from = `--hash-key-file ${file}`;
  } else if (envValue !== undefined && envValue !== '') {
    text = envValue;
    from = 'ELS_HASH_KEY';
  } else {
    return undefined;
  }
  const key = Buffer.from(text, 'utf8');
  if (key.length < MIN_HASH_KEY_BYTES) {
    // The length only: the key itself is never printed.
    throw new ConfigError(`the hash key from ${from} is ${key.length} bytes; it must be at least ${MIN_HASH_KEY_BYTES} bytes (for example: openssl rand -base64 48)`);
  }
  return key;
}

/** "us-east-1=https://a,eu-west-1=https://b" → { "us-east-1": "https://a", ... }. */
export function parseRegionMap(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    const region = part.slice(0, i);
    const url = part.slice(i + 1);
    if (i <= 0 || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region) || !/^https?:\/\//.test(url)) {
      throw new ConfigError(`--aws-endpoints entries look like us-east-1=https://vpce-..., not "${part}"`);
    }
    out[region] = url;
  }
  return out;
}

/** The access rules from --access-rules(-file) or $ELS_ACCESS_RULES; the deprecated role-rules flags still work. */
function accessRulesFrom(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): { accessRules: AccessRule[]; deprecations: string[] } {
  const text = (flag: string) => {
    const inline = values[flag];
    const file = values[`${flag}-file`];
    return typeof inline === 'string' ? inline : typeof file === 'string' ? readFileSync(file, 'utf8') : undefined;
  };
  const current = text('access-rules') ?? env.ELS_ACCESS_RULES;
  const legacy = text('role-rules') ?? env.ELS_ROLE_RULES;
  if (current !== undefined && legacy !== undefined) throw new ConfigError('give --access-rules or the deprecated --role-rules, not both (access rules take role rules as they are)');
  const deprecations = legacy !== undefined ? ['--role-rules, --role-rules-file and $ELS_ROLE_RULES are deprecated: pass the same document as --access-rules'] : [];
  const chosen = current ?? legacy;
  if (chosen === undefined || chosen.trim() === '') return { accessRules: [], deprecations };
  try {
    return { accessRules: parseAccessRules(chosen), deprecations };
  } catch (err) {
    throw new ConfigError(`access rules: ${(err as Error).message}`);
  }
}
