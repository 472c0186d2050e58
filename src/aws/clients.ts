// AWS SDK clients, reused per (identity, region), each with one middleware that counts every
// real HTTP attempt (it sits inside the retry middleware, so retries are counted too), and the
// SDK's own connection and request timeouts: without them an endpoint that accepts TCP and never
// answers (a black-holed VPC endpoint) holds a worker for ever.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { Metrics } from '../observability/metrics.js';
import { awsErrorCode } from './errors.js';

export type Credentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

export interface EndpointConfig {
  /** Secrets Manager endpoint override (VPC endpoint, or moto in tests); per region or for all. */
  secretsManagerEndpoint?: string;
  secretsManagerEndpoints?: Record<string, string>;
  stsEndpoint?: string;
  stsEndpoints?: Record<string, string>;
  /** SDK attempts per call (1 + retries). */
  maxAttempts: number;
  /** Per attempt: opening the connection, and the whole request with its answer. */
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * Options for the SDK's NodeHttpHandler (passed as a plain object, which the client turns into its
 * handler). Both timeouts fail the attempt with a TimeoutError, which the SDK's retry strategy
 * treats as transient. throwOnRequestTimeout: without it, @smithy/node-http-handler 4.x only logs
 * a warning when requestTimeout passes and keeps waiting.
 */
export function requestHandlerOptions(endpoints: Pick<EndpointConfig, 'connectTimeoutMs' | 'requestTimeoutMs'>) {
  return { connectionTimeout: endpoints.connectTimeoutMs, requestTimeout: endpoints.requestTimeoutMs, throwOnRequestTimeout: true };
}

interface StackClient {
  middlewareStack: {
    addRelativeTo(mw: unknown, options: { relation: 'after'; toMiddleware: string; name: string }): void;
  };
}

export function countCalls(client: StackClient, service: 'secretsmanager' | 'sts' | 'sqs', metrics: Metrics | undefined): void {
  if (!metrics) return;
  const mw = (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
    const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
    try {
      const result = await next(args);
      metrics.awsCalls.inc({ service, operation, outcome: 'success' });
      return result;
    } catch (err) {
      metrics.awsCalls.inc({ service, operation, outcome: awsErrorCode(err) });
      throw err;
    }
  };
  client.middlewareStack.addRelativeTo(mw, { relation: 'after', toMiddleware: 'retryMiddleware', name: 'elsCountCalls' });
}

export class AwsClientFactory {
  readonly #sm = new Map<string, SecretsManagerClient>();
  readonly #sts = new Map<string, STSClient>();
  readonly #endpoints: EndpointConfig;
  readonly #metrics: Metrics | undefined;

  constructor(endpoints: EndpointConfig, metrics?: Metrics) {
    this.#endpoints = endpoints;
    this.#metrics = metrics;
  }

  /** identityKey names the credentials (never contains them); one client per key and region. */
  secretsManager(identityKey: string, region: string, credentials: Credentials | undefined): SecretsManagerClient {
    const endpoint = this.#endpoints.secretsManagerEndpoints?.[region] ?? this.#endpoints.secretsManagerEndpoint;
    return this.#client(this.#sm, 'secretsmanager', identityKey, region, (config) => new SecretsManagerClient(config), endpoint, credentials);
  }

  sts(identityKey: string, region: string, credentials: Credentials | undefined): STSClient {
    const endpoint = this.#endpoints.stsEndpoints?.[region] ?? this.#endpoints.stsEndpoint;
    return this.#client(this.#sts, 'sts', identityKey, region, (config) => new STSClient(config), endpoint, credentials);
  }

  #client<C>(
    cache: Map<string, C>, service: 'secretsmanager' | 'sts', identityKey: string, region: string,
    make: (config: {
      region: string; endpoint?: string; credentials?: Credentials; maxAttempts: number; requestHandler: ReturnType<typeof requestHandlerOptions>;
    }) => C,
    endpoint: string | undefined, credentials: Credentials | undefined,
  ): C {
    const key = `${identityKey}|${region}`;
    let client = cache.get(key);
    if (!client) {
      client = make({
        region, ...(endpoint ? { endpoint } : {}), ...(credentials ? { credentials } : {}),
        maxAttempts: this.#endpoints.maxAttempts, requestHandler: requestHandlerOptions(this.#endpoints),
      });
      countCalls(client as unknown as StackClient, service, this.#metrics);
      cache.set(key, client);
    }
    return client;
  }

  /**
   * The operator's own SQS client for the events queue (src/events), counted like the others. Its
   * request timeout covers a 20 s long poll; the queue URL's host is the endpoint (SDK default),
   * so a VPC endpoint or an emulator is named by the URL itself.
   */
  sqs(region: string, credentials: Credentials | undefined, longPollSeconds: number): SQSClient {
    const client = new SQSClient({
      region, ...(credentials ? { credentials } : {}), maxAttempts: this.#endpoints.maxAttempts,
      requestHandler: requestHandlerOptions({
        connectTimeoutMs: this.#endpoints.connectTimeoutMs,
        requestTimeoutMs: Math.max(this.#endpoints.requestTimeoutMs, (longPollSeconds + 10) * 1000),
      }),
    });
    countCalls(client as unknown as StackClient, 'sqs', this.#metrics);
    return client;
  }

  /** Drops the clients of an identity that left the credential cache. */
  evict(identityKey: string): void {
    for (const map of [this.#sm, this.#sts] as Array<Map<string, { destroy(): void }>>) {
      for (const [key, client] of map) {
        if (key.startsWith(`${identityKey}|`)) { client.destroy(); map.delete(key); }
      }
    }
  }

  destroy(): void {
    for (const c of this.#sm.values()) c.destroy();
    for (const c of this.#sts.values()) c.destroy();
    this.#sm.clear();
    this.#sts.clear();
  }
}
