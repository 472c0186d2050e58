// Change detection: which version of each secret carries a stage right now, from ListSecrets
// (up to 100 secrets a call, version-to-stage maps included, no values). A refresh whose synced
// version is still current needs no GetSecretValue at all. One listing per identity and region is
// shared by every resource for maxAgeMs; an identity without secretsmanager:ListSecrets falls
// back to reading values.
import { ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from 'pino';
import { awsErrorCode } from './errors.js';
import { matchesId } from './batch-fetcher.js';

interface Entry {
  name?: string;
  arn?: string;
  versionsToStages: Record<string, string[]>;
  tags: Record<string, string>;
}

interface Snapshot {
  at: number;
  entries: Entry[];
  byName: Map<string, Entry>;
}

export type VersionLookup =
  | { known: true; versionId: string | undefined; tags: Record<string, string> }
  | { known: false };

export class VersionIndex {
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #inflight = new Map<string, Promise<Snapshot | undefined>>();
  readonly #refused = new Set<string>();
  readonly #maxAgeMs: number;
  readonly #log: Logger;

  constructor(maxAgeMs: number, log: Logger) {
    this.#maxAgeMs = maxAgeMs;
    this.#log = log;
  }

  async lookup(groupKey: string, client: SecretsManagerClient, secretId: string, stage = 'AWSCURRENT'): Promise<VersionLookup> {
    const snapshot = await this.#snapshot(groupKey, client);
    if (!snapshot) return { known: false };
    const entry = snapshot.byName.get(secretId) ?? snapshot.entries.find((e) => matchesId(secretId, e.name, e.arn));
    if (!entry) return { known: false };
    const versionId = Object.entries(entry.versionsToStages).find(([, stages]) => stages.includes(stage))?.[0];
    return { known: true, versionId, tags: entry.tags };
  }

  async #snapshot(groupKey: string, client: SecretsManagerClient): Promise<Snapshot | undefined> {
    if (this.#refused.has(groupKey)) return undefined;
    const current = this.#snapshots.get(groupKey);
    if (current && Date.now() - current.at <= this.#maxAgeMs) return current;
    let pending = this.#inflight.get(groupKey);
    if (!pending) {
      pending = this.#list(groupKey, client).finally(() => this.#inflight.delete(groupKey));
      this.#inflight.set(groupKey, pending);
    }
    return pending;
  }

  async #list(groupKey: string, client: SecretsManagerClient): Promise<Snapshot | undefined> {
    const entries: Entry[] = [];
    let NextToken: string | undefined;
    try {
      do {
        const page = await client.send(new ListSecretsCommand({ MaxResults: 100, NextToken }));
        for (const s of page.SecretList ?? []) {
          entries.push({
            name: s.Name, arn: s.ARN, versionsToStages: s.SecretVersionsToStages ?? {},
            tags: Object.fromEntries((s.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
          });
        }
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (err) {
      const code = awsErrorCode(err);
      if (code === 'AccessDeniedException' || code === 'AccessDenied') {
        this.#refused.add(groupKey);
        this.#log.info({ identity: groupKey.split('|')[0], code }, 'ListSecrets refused; change detection off for this identity');
      } else {
        this.#log.debug({ code }, 'ListSecrets failed; reading values this time');
      }
      return undefined;
    }
    const snapshot: Snapshot = { at: Date.now(), entries, byName: new Map(entries.filter((e) => e.name).map((e) => [e.name!, e])) };
    this.#snapshots.set(groupKey, snapshot);
    return snapshot;
  }
}
