// The composition root: builds every part from a Config and runs them. main.ts (the process) and
// the integration tests (in-process operators) both start the operator through here.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { Logger } from 'pino';
import { AwsClientFactory, type Credentials } from './aws/clients.js';
import { CredentialBroker } from './aws/credentials.js';
import { awsErrorCode } from './aws/errors.js';
import { SourceCache } from './aws/source-cache.js';
import { AwsSecretsManagerSource } from './aws/source.js';
import { BatchFetcher } from './aws/batch-fetcher.js';
import { VersionIndex } from './aws/version-index.js';
import type { Config } from './config.js';
import { Controller } from './controller/controller.js';
import { errorSummary } from './controller/informer.js';
import { LeaderElector } from './controller/leader.js';
import { BudgetedEvents, DEFAULT_EVENT_BUDGET } from './controller/event-budget.js';
import { ReadAhead } from './controller/read-ahead.js';
import { ExternalLLMSecretReconciler } from './controller/reconciler.js';
import { CRD_NAME } from './crds/constants.js';
import { httpCode, KubeClient } from './kube/client.js';
import { EventRecorder } from './kube/events.js';
import { EventRefresh } from './events/event-refresh.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { EventLoopWatch, healthHandler, listen, metricsHandler } from './observability/server.js';
import { GeneratedSource } from './generate/source.js';
import { SourceRegistry } from './source/registry.js';
import { DEFAULT_LIMITS } from './sync/render.js';

export interface OperatorOverrides {
  kubeConfig?: KubeConfig;
  log?: Logger;
  /** Operator credentials instead of the SDK default chain (tests). */
  awsCredentials?: Credentials;
  metrics?: Metrics;
  /** Test hook: called right after each Secret write (main.ts uses it to die at that point). */
  afterSecretWrite?: (key: string) => void;
  /** Called when leadership is lost; the process exits so a fresh one rejoins as a standby. */
  onLostLeadership?: () => void;
}

export interface RunningOperator {
  controller: Controller;
  metrics: Metrics;
  log: Logger;
  isLeader(): boolean;
  /** Event-driven refresh, with --events-queue-url. */
  eventRefresh?: EventRefresh;
  /** Releases the lease, drains the queue and stops every watch and server. */
  stop(): Promise<void>;
}

export class CrdMissingError extends Error {}

export async function startOperator(config: Config, overrides: OperatorOverrides = {}): Promise<RunningOperator> {
  const log = overrides.log ?? createLogger(config.logLevel);
  const metrics = overrides.metrics ?? new Metrics({ perResourceNames: config.perResourceMetrics });
  const kubeConfig = overrides.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const kube = new KubeClient(kubeConfig, metrics, config.kubeRequestTimeoutMs);

  const crdCheck = checkCrdInstalled(kube, config.namespaces[0]);
  const clients = new AwsClientFactory({
    secretsManagerEndpoint: config.secretsManagerEndpoint,
    secretsManagerEndpoints: config.secretsManagerEndpoints,
    stsEndpoint: config.stsEndpoint,
    maxAttempts: config.awsMaxAttempts,
    connectTimeoutMs: config.awsConnectTimeoutMs,
    requestTimeoutMs: config.awsRequestTimeoutMs,
  }, metrics);
  // The AWS identity check only informs (it never throws): it runs alongside the rest of the start-up.
  const identityCheck = config.checkAwsIdentity ? logAwsIdentity(clients, config, overrides.awsCredentials, log) : undefined;
  await crdCheck;
  for (const warning of config.deprecations) log.warn(warning);
  if (!config.accessRules.some((r) => r.secrets)) {
    log.warn('no access rule grants secrets: resources without spec.auth are refused (SourceNotPermitted); see --access-rules');
  }

  const broker = new CredentialBroker({
    clients, kube, stsRegion: config.stsRegion, sessionTags: config.sessionTags, operatorCredentials: overrides.awsCredentials, metrics,
    readerRole: config.readerRole, onEvict: (identity) => clients.evict(identity),
  });
  const sources = new SourceCache(config.sourceCacheTtlMs, metrics);
  if (!config.hashKey) log.warn('no --hash-key-file or ELS_HASH_KEY: status.dataHash uses a random key, so every resource is re-checked against AWS after a restart');
  const hashKey = config.hashKey ?? randomBytes(32);

  let readAhead: ReadAhead | undefined;
  const controller = new Controller({
    kubeConfig, kube, namespaces: config.namespaces, selector: config.selector, concurrency: config.concurrent,
    relistMs: config.relistMs, metrics, log,
    queueHooks: { onWaiting: (key) => readAhead?.waiting(key), onStarted: (key) => readAhead?.started(key) },
  });
  // Normal events through an operator-wide budget (src/controller/event-budget.ts); Warnings always.
  const events = new BudgetedEvents(new EventRecorder(kube, config.identity, log), {
    ...DEFAULT_EVENT_BUDGET, onDrop: (reason) => metrics.kubeEventsDropped.inc({ reason }), log,
  });
  const awsSource = new AwsSecretsManagerSource({
    broker, clients, sources, accessRules: config.accessRules, defaultRegion: config.defaultRegion,
    fetcher: new BatchFetcher(log, { enabled: config.batchGet }),
    versions: config.changeDetection ? new VersionIndex(config.refreshShareWindowMs, log) : undefined,
  });
  // Event-driven refresh (src/events): change events from an SQS queue requeue the resources of
  // a changed secret; polling stretches to refreshInterval × --events-poll-multiplier meanwhile.
  let reconciler: ExternalLLMSecretReconciler | undefined;
  const eventRefresh = config.eventsQueueUrl ? new EventRefresh({
    queueUrl: config.eventsQueueUrl, pollMultiplier: config.eventsPollMultiplier, defaultRegion: config.defaultRegion,
    clients, credentials: overrides.awsCredentials,
    resources: () => controller.listResources(), regionOf: (els) => awsSource.regionOf(els),
    invalidate: (match) => awsSource.invalidate(match), markDue: (key) => reconciler?.markDue(key),
    queue: controller.queue, metrics, log,
  }) : undefined;
  const afterSecretWrite = eventRefresh
    ? (key: string) => { eventRefresh.latency.written(key); overrides.afterSecretWrite?.(key); }
    : overrides.afterSecretWrite;
  const registry = new SourceRegistry([awsSource, new GeneratedSource({
    broker, accessRules: config.accessRules, defaultRegion: config.defaultRegion, generatorRole: config.generatorRole,
  })]);
  controller.setReconciler(reconciler = new ExternalLLMSecretReconciler({
    getResource: (ns, n) => controller.getResource(ns, n),
    getCachedSecret: (ns, n) => controller.getSecret(ns, n),
    kube, events, metrics, log,
    sources: registry,
    recovery: controller.recovery,
    afterSecretWrite,
    ownWrites: controller.ownWrites,
    pollIntervalMs: eventRefresh ? (ms) => eventRefresh.pollIntervalMs(ms) : undefined,
    config: {
      hashKey,
      limits: { ...DEFAULT_LIMITS, maxValueBytes: config.maxValueBytes },
      refreshShareWindowMs: config.refreshShareWindowMs,
      driftMaxAgeMs: config.sourceCacheTtlMs,
    },
  }));
  // Keys waiting behind busy workers have their first reads started together (full batches).
  readAhead = new ReadAhead({
    firstReadOf: (key) => reconciler?.firstReadOf(key), sourceFor: (els) => registry.for(els), maxAgeMs: config.refreshShareWindowMs,
  });

  let leader: LeaderElector | undefined;
  const servers: Server[] = [];
  const loop = new EventLoopWatch();
  const isLeader = () => !config.leaderElect || (leader?.isLeader ?? false);
  const probes = {
    ready: () => {
      if (!controller.synced) return { ok: false, detail: 'caches not synced' };
      if (isLeader() && !controller.healthy) return { ok: false, detail: 'a watch is down and restarting' };
      const note = isLeader() && eventRefresh?.note ? `; ${eventRefresh.note}` : '';
      return { ok: true, detail: `${isLeader() ? 'ok (leader)' : 'ok (standby)'}${note}` };
    },
  };
  if (config.metricsPort > 0) servers.push(await listen(config.metricsPort, metricsHandler(metrics.registry)));
  if (config.healthPort > 0) servers.push(await listen(config.healthPort, healthHandler(probes, loop)));

  await Promise.all([controller.startInformers(), identityCheck]);
  log.info({ namespaces: config.namespaces.length > 0 ? config.namespaces : 'all', selector: config.selector }, 'caches synced');

  if (config.leaderElect) {
    leader = new LeaderElector({
      kube, namespace: config.leaseNamespace, name: config.leaseName, identity: config.identity,
      leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs, log,
      onStartedLeading: () => { controller.startWorkers(); eventRefresh?.start(); },
      onStoppedLeading: () => { void eventRefresh?.stop(); void controller.queue.stop(); (overrides.onLostLeadership ?? (() => process.exit(1)))(); },
    });
    leader.start();
  } else {
    controller.startWorkers();
    eventRefresh?.start();
  }

  let stopping: Promise<void> | undefined;
  return {
    controller, metrics, log, isLeader, eventRefresh,
    stop: () => {
      stopping ??= (async () => {
        await eventRefresh?.stop();
        await leader?.release();
        await controller.stop();
        readAhead?.stop();
        sources.stop();
        clients.destroy();
        loop.stop();
        await Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => resolve()); s.closeAllConnections(); })));
      })();
      return stopping;
    },
  };
}

function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path); else kc.loadFromDefault();
  return kc;
}

export async function checkCrdInstalled(kube: Pick<KubeClient, 'listExternalLLMSecrets'>, namespace: string | undefined): Promise<void> {
  try {
    await kube.listExternalLLMSecrets(namespace, undefined, 1);
  } catch (err) {
    if (httpCode(err) === 404) {
      throw new CrdMissingError(`the CustomResourceDefinition ${CRD_NAME} is not installed: run "kubectl apply -f deploy/crds/" (or install the Helm chart with crds.install=true)`);
    }
    throw new Error(`cannot list ExternalLLMSecrets: ${errorSummary(err)}`, { cause: err });
  }
}

async function logAwsIdentity(clients: AwsClientFactory, config: Config, credentials: Credentials | undefined, log: Logger): Promise<void> {
  try {
    const sts = clients.sts('operator', config.stsRegion, credentials);
    const out = await sts.send(new GetCallerIdentityCommand({}));
    log.info({ arn: out.Arn, account: out.Account }, 'operator AWS identity');
  } catch (err) {
    log.warn({ code: awsErrorCode(err) }, 'the operator has no working AWS identity of its own; only resources with spec.auth.serviceAccountRef can sync');
  }
}
