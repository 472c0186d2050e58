// Reads secret values, grouping reads of the same identity and region into BatchGetSecretValue
// calls of up to 20 secrets; how long a batch waits for more is batch-window.ts's (adaptive,
// bounded). Pinned versions and stages other than
// AWSCURRENT go one by one (the batch API reads only AWSCURRENT). When an identity may not call
// BatchGetSecretValue, that identity falls back to GetSecretValue for good. An error for one
// secret in a batch affects only the requests for that secret.
import { BatchGetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from 'pino';
import type { SourceSecret } from '../sync/source.js';
import { BatchWindow, BATCH_WINDOW_DEFAULTS, type BatchWindowOptions } from './batch-window.js';
import { awsErrorCode, mapSecretsManagerError } from './errors.js';
import { getSecretValue, type SecretVersionRef } from './secrets-manager.js';

export const BATCH_DEFAULTS = { maxBatch: 20 } as const;

interface Pending {
  ref: SecretVersionRef;
  resolve(s: SourceSecret): void;
  reject(e: unknown): void;
}

interface Group {
  client: SecretsManagerClient;
  items: Pending[];
  openedAt: number;
  flushAt: number;
  timer?: NodeJS.Timeout;
}

const REFUSED = new Set(['AccessDeniedException', 'AccessDenied', 'UnknownOperationException', 'InvalidAction', 'NotImplemented']);

export class BatchFetcher {
  readonly #groups = new Map<string, Group>();
  readonly #batchRefused = new Set<string>();
  readonly #window: BatchWindow;
  readonly #maxBatch: number;
  readonly #log: Logger;
  readonly #enabled: boolean;

  constructor(log: Logger, opts: { window?: Partial<BatchWindowOptions>; maxBatch?: number; enabled?: boolean } = {}) {
    this.#log = log;
    this.#window = new BatchWindow({ ...BATCH_WINDOW_DEFAULTS, ...opts.window });
    this.#maxBatch = Math.min(20, opts.maxBatch ?? BATCH_DEFAULTS.maxBatch);
    this.#enabled = opts.enabled ?? true;
  }

  get(groupKey: string, client: SecretsManagerClient, ref: SecretVersionRef): Promise<SourceSecret> {
    const pinned = ref.versionId !== undefined || (ref.versionStage !== undefined && ref.versionStage !== 'AWSCURRENT');
    if (!this.#enabled || pinned || this.#batchRefused.has(groupKey)) return getSecretValue(client, ref);
    return new Promise<SourceSecret>((resolve, reject) => {
      const now = Date.now();
      let group = this.#groups.get(groupKey);
      if (!group) {
        group = { client, items: [], openedAt: now, flushAt: Infinity };
        this.#groups.set(groupKey, group);
      }
      group.items.push({ ref, resolve, reject });
      const flushAt = this.#window.arrive(groupKey, now, group.openedAt);
      if (group.items.length >= this.#maxBatch) this.#flush(groupKey);
      else if (flushAt !== group.flushAt) {
        clearTimeout(group.timer);
        group.flushAt = flushAt;
        group.timer = setTimeout(() => this.#flush(groupKey), Math.max(0, flushAt - now));
      }
    });
  }

  #flush(groupKey: string): void {
    const group = this.#groups.get(groupKey);
    if (!group) return;
    this.#groups.delete(groupKey);
    clearTimeout(group.timer);
    const cut = groupKey.lastIndexOf('|');
    this.#log.debug({ identity: groupKey.slice(0, cut), region: groupKey.slice(cut + 1), reads: group.items.length, waitedMs: Date.now() - group.openedAt }, 'secret reads batched');
    for (let i = 0; i < group.items.length; i += this.#maxBatch) {
      void this.#run(groupKey, group.client, group.items.slice(i, i + this.#maxBatch));
    }
  }

  async #run(groupKey: string, client: SecretsManagerClient, items: Pending[]): Promise<void> {
    const ids = [...new Set(items.map((p) => p.ref.secretId))];
    if (ids.length === 1 || this.#batchRefused.has(groupKey)) {
      await Promise.all(items.map((p) => getSecretValue(client, p.ref).then(p.resolve, p.reject)));
      return;
    }
    let out;
    try {
      out = await client.send(new BatchGetSecretValueCommand({ SecretIdList: ids }));
    } catch (err) {
      if (REFUSED.has(awsErrorCode(err))) {
        this.#batchRefused.add(groupKey);
        this.#log.info({ identity: groupKey.split('|')[0], code: awsErrorCode(err) }, 'BatchGetSecretValue refused; falling back to GetSecretValue for this identity');
        await Promise.all(items.map((p) => getSecretValue(client, p.ref).then(p.resolve, p.reject)));
        return;
      }
      for (const p of items) p.reject(mapSecretsManagerError(err, p.ref.secretId, 'BatchGetSecretValue'));
      return;
    }
    const values = out.SecretValues ?? [];
    const errors = out.Errors ?? [];
    for (const p of items) {
      const id = p.ref.secretId;
      const v = values.find((s) => matchesId(id, s.Name, s.ARN));
      if (v) {
        p.resolve({
          secretId: id, arn: v.ARN, versionId: v.VersionId ?? '', versionStages: v.VersionStages,
          createdDate: v.CreatedDate, secretString: v.SecretString, secretBinary: v.SecretBinary,
        });
        continue;
      }
      const e = errors.find((x) => x.SecretId === id);
      if (e) {
        p.reject(mapSecretsManagerError({ name: e.ErrorCode, message: e.Message }, id, 'BatchGetSecretValue'));
        continue;
      }
      // Neither a value nor an error for this id: ask for it alone.
      getSecretValue(client, p.ref).then(p.resolve, p.reject);
    }
  }
}

/** A secret id (name, full ARN, or ARN without the random suffix) names this secret. */
export function matchesId(id: string, name: string | undefined, arn: string | undefined): boolean {
  if (id === name || id === arn) return true;
  return arn !== undefined && id.startsWith('arn:') && arn.startsWith(`${id}-`) && arn.length === id.length + 7;
}
