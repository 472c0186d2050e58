// The floor of a cold start: what any operator must do on the apiserver for each new resource,
// done by a bare client with nothing else: one Secret POST and one ExternalLLMSecret status
// merge-PATCH, over keep-alive HTTPS (node:https, one Agent, as many sockets as workers), with
// the operator's --concurrent as the number of workers. No watch, no cache, no AWS, no events.
// The bench runs it after the operator has stopped, on the same apiserver, in fresh namespaces.
import { Agent, request } from 'node:https';
import { API_VERSION, GROUP, KIND, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_ANNOTATION, PLURAL, VERSION } from '../src/crds/constants.js';
import type { TestEnv } from '../test/env/index.js';

export class BareClient {
  readonly #agent: Agent;
  constructor(private readonly env: TestEnv, sockets: number) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets, ca: env.caPem, cert: env.adminCertPem, key: env.adminKeyPem });
  }

  /** One request; resolves with the parsed body, throws on a non-2xx answer. */
  call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Record<string, unknown>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.env.server), {
        method, agent: this.#agent, timeout: 60_000,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve(text ? JSON.parse(text) as Record<string, unknown> : {});
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void { this.#agent.destroy(); }
}

export interface FloorObject { namespace: string; name: string; uid: string; generation: number }

/** The Secret an operator writes for one resource: one key, its labels, annotation and owner reference (a fake value, the same length as the bench's). */
export function floorSecret(o: FloorObject, sourceLabel: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: {
      name: o.name, namespace: o.namespace,
      labels: { ...sourceLabel, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: { [OWNER_ANNOTATION]: `${o.namespace}/${o.name}` },
      ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: o.name, uid: o.uid, controller: true, blockOwnerDeletion: false }],
    },
    data: { OPENAI_API_KEY: Buffer.from(`sk-floor-${o.name}-v1`).toString('base64') },
  };
}

/** A Ready status of the size the operator writes. */
export function floorStatus(o: FloorObject, secretId: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    status: {
      observedGeneration: o.generation,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: `Secret ${o.name} holds version 00000000-0000-0000-0000-000000000001 of ${secretId}`, lastTransitionTime: now, observedGeneration: o.generation }],
      secretName: o.name,
      syncedVersionId: '00000000-0000-0000-0000-000000000001',
      syncedAt: now,
      dataHash: 'sha256:0000000000000000000000000000000000000000000000000000000000000000',
      keys: [{ secretKey: 'OPENAI_API_KEY', from: 'api_key' }],
    },
  };
}

/** The unavoidable work for one resource: Secret POST, status merge-PATCH. */
export async function floorWork(client: BareClient, o: FloorObject, secretId: string, labels: Record<string, string>): Promise<void> {
  await client.call('POST', `/api/v1/namespaces/${o.namespace}/secrets?fieldManager=external-llm-secrets`, floorSecret(o, labels));
  await client.call('PATCH', `/apis/${GROUP}/${VERSION}/namespaces/${o.namespace}/${PLURAL}/${o.name}/status`, floorStatus(o, secretId), 'application/merge-patch+json');
}

/** One Normal event of the shape src/kube/events.ts writes. */
export async function floorEvent(client: BareClient, o: FloorObject, instance: string): Promise<void> {
  const now = new Date().toISOString();
  await client.call('POST', `/api/v1/namespaces/${o.namespace}/events`, {
    apiVersion: 'v1', kind: 'Event',
    metadata: { generateName: `${o.name}.`, namespace: o.namespace },
    involvedObject: { apiVersion: API_VERSION, kind: KIND, name: o.name, namespace: o.namespace, uid: o.uid },
    type: 'Normal', reason: 'Synced', message: `Created Secret ${o.name} from bench/llm-00000 (version 00000000-0000-0000-0000-000000000001)`,
    action: 'Sync', source: { component: 'external-llm-secrets' }, reportingComponent: 'external-llm-secrets', reportingInstance: instance,
    firstTimestamp: now, lastTimestamp: now, count: 1,
  });
}

/** A queue that workers pull from while producers still push (the live floor: creates feed the bare client). */
export class Feed<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(v: T | undefined) => void> = [];
  #closed = false;
  push(item: T): void {
    const w = this.#waiters.shift();
    if (w) w(item); else this.#items.push(item);
  }
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
  next(): Promise<T | undefined> {
    if (this.#items.length) return Promise.resolve(this.#items.shift());
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((r) => this.#waiters.push(r));
  }
}

/** `workers` workers doing fn for each item of the feed until it is closed and empty. */
export async function drain<T>(feed: Feed<T>, workers: number, fn: (item: T) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let item = await feed.next(); item !== undefined; item = await feed.next()) await fn(item);
  }));
}
