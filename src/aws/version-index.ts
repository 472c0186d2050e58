// Change detection: which version of each secret carries a stage right now, from ListSecrets
// (up to 100 secrets a call, version-to-stage maps included, no values). A refresh whose synced
// version is still current needs no GetSecretValue at all.
// A listing is shared per AWS account and region, by every identity in it: ListSecrets has no
// resource-level permissions, so every principal allowed to call it sees the same list. It holds
// names and version ids only, never values, and a resource still reads values with its own
// identity whenever a version changes. An identity without secretsmanager:ListSecrets falls
// back to reading values.
import { ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from 'pino';
import { awsErrorCode } from './errors.js';
import { matchesId } from './batch-fetcher.js';

interface Entry {
  name?: string;
  arn?: string;
  versionsToStages: Record<string, string[]>;
}

interface Snapshot {
  at: number;
  entries: Entry[];
  byName: Map<string, Entry>;
}

export type VersionLookup =
  | { known: true; versionId: string | undefined }
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

  /** listKey: account|region, shared by identities; identityKey: whose client lists now. */
  async lookup(listKey: string, identityKey: string, client: SecretsManagerClient, secretId: string, stage = 'AWSCURRENT'): Promise<VersionLookup> {
    const snapshot = await this.#snapshot(listKey, identityKey, client);
    if (!snapshot) return { known: false };
    const entry = snapshot.byName.get(secretId) ?? snapshot.entries.find((e) => matchesId(secretId, e.name, e.arn));
    if (!entry) return { known: false };
    const versionId = Object.entries(entry.versionsToStages).find(([, stages]) => stages.includes(stage))?.[0];
    return { known: true, versionId };
  }

  async #snapshot(listKey: string, identityKey: string, client: SecretsManagerClient): Promise<Snapshot | undefined> {
    const current = this.#snapshots.get(listKey);
    if (current && Date.now() - current.at <= this.#maxAgeMs) return current;
    const pending = this.#inflight.get(listKey);
    if (pending) return pending;
    if (this.#refused.has(identityKey)) return undefined;
    const listing = this.#list(listKey, identityKey, client).finally(() => this.#inflight.delete(listKey));
    this.#inflight.set(listKey, listing);
    return listing;
  }

  async #list(listKey: string, identityKey: string, client: SecretsManagerClient): Promise<Snapshot | undefined> {
    const entries: Entry[] = [];
    let NextToken: string | undefined;
    try {
      do {
        const page = await client.send(new ListSecretsCommand({ MaxResults: 100, NextToken }));
        for (const s of page.SecretList ?? []) {
          entries.push({
            name: s.Name, arn: s.ARN, versionsToStages: s.SecretVersionsToStages ?? {},
          });
        }
        NextToken = page.NextToken;
      } while (NextToken);
    } catch (err) {
      const code = awsErrorCode(err);
      if (code === 'AccessDeniedException' || code === 'AccessDenied') {
        this.#refused.add(identityKey);
        this.#log.info({ identity: identityKey.split('>').pop()?.split('|')[0], code }, 'ListSecrets refused; change detection off for this identity');
      } else {
        this.#log.debug({ code }, 'ListSecrets failed; reading values this time');
      }
      return undefined;
    }
    const snapshot: Snapshot = { at: Date.now(), entries, byName: new Map(entries.filter((e) => e.name).map((e) => [e.name!, e])) };
    this.#snapshots.set(listKey, snapshot);
    return snapshot;
  }
}
