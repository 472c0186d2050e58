// Change detection: which version of each secret carries a stage right now, from ListSecrets
// (up to 100 secrets a call, version-to-stage maps included, no values). A refresh whose synced
// version is still current needs no GetSecretValue at all.
// A listing is shared per AWS account and region, by every identity in it: ListSecrets has no
// resource-level permissions, so every principal allowed to call it sees the same list. It holds
// names and version ids only, never values, and a resource still reads values with its own
// identity whenever a version changes. An identity without secretsmanager:ListSecrets falls
// back to reading values.
// A change event (src/events) invalidates what the index knows of one secret: the next lookup of
// it asks DescribeSecret (that secret alone, shared by every resource that names it the same way)
// instead of trusting a listing taken before the event, or listing the whole account again.
import { DescribeSecretCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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
  /** The invalidation count when the listing began: later invalidations make it stale. */
  startedSeq: number;
  entries: Entry[];
  byName: Map<string, Entry>;
}

export type VersionLookup =
  | { known: true; versionId: string | undefined }
  | { known: false };

/** (region, identifiers of a secret) → does an event name it. */
export type SecretMatch = (region: string, ids: Array<string | undefined>) => boolean;

interface Described {
  startedAt: number;
  startedSeq: number;
  result: Promise<Entry | undefined>;
}

/** Invalidations are kept this long: far longer than a listing is trusted or a requeue waits. */
const INVALIDATION_TTL_MS = 10 * 60_000;
/** Lookups this soon after an event are the requeues it caused: one DescribeSecret serves them.
 * Later ones (polling) list again, which serves every secret of the account at once. */
const TARGETED_WINDOW_MS = 2 * 60_000;

export class VersionIndex {
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #invalidations: Array<{ at: number; seq: number; match: SecretMatch }> = [];
  #seq = 0;
  /** listKey|secretId → the last DescribeSecret after an invalidation. */
  readonly #described = new Map<string, Described>();
  readonly #describeRefused = new Set<string>();
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
    const changed = this.#changedAt(listKey, secretId);
    let entry: Entry | undefined;
    if (changed && !this.#listedSince(listKey, changed.seq) && Date.now() - changed.at <= TARGETED_WINDOW_MS) {
      entry = await this.#describe(listKey, identityKey, client, secretId, changed.seq);
    } else {
      const snapshot = await this.#snapshot(listKey, identityKey, client);
      if (!snapshot) return { known: false };
      entry = snapshot.byName.get(secretId) ?? snapshot.entries.find((e) => matchesId(secretId, e.name, e.arn));
      // The listing began before an event about this secret (it was in flight): ask again.
      const after = this.#changedAt(listKey, secretId);
      if (entry && after && snapshot.startedSeq < after.seq) entry = await this.#describe(listKey, identityKey, client, secretId, after.seq);
    }
    if (!entry) return { known: false };
    const versionId = Object.entries(entry.versionsToStages).find(([, stages]) => stages.includes(stage))?.[0];
    return { known: true, versionId };
  }

  /**
   * A change event named these secrets: what the index knows of them is stale from now on, and
   * the next lookup of each asks DescribeSecret. Costs nothing until a lookup.
   */
  invalidate(match: SecretMatch): void {
    const now = Date.now();
    while (this.#invalidations.length > 0 && now - this.#invalidations[0]!.at > INVALIDATION_TTL_MS) this.#invalidations.shift();
    for (const [k, d] of this.#described) if (now - d.startedAt > INVALIDATION_TTL_MS) this.#described.delete(k);
    this.#invalidations.push({ at: now, seq: ++this.#seq, match });
  }

  /** The latest invalidation naming this secret, if any is kept. */
  #changedAt(listKey: string, secretId: string): { at: number; seq: number } | undefined {
    const region = listKey.split('|')[1] ?? '';
    for (let i = this.#invalidations.length - 1; i >= 0; i--) {
      const inv = this.#invalidations[i]!;
      if (inv.match(region, [secretId])) return inv;
    }
    return undefined;
  }

  /** A trusted listing began after invalidation `seq`. */
  #listedSince(listKey: string, seq: number): boolean {
    const current = this.#snapshots.get(listKey);
    return current !== undefined && current.startedSeq >= seq && Date.now() - current.at <= this.#maxAgeMs;
  }

  /** DescribeSecret of one secret, shared by every lookup of the same id after invalidation `seq`. */
  async #describe(listKey: string, identityKey: string, client: SecretsManagerClient, secretId: string, seq: number): Promise<Entry | undefined> {
    if (this.#describeRefused.has(identityKey)) return undefined;
    const k = `${listKey}\u0000${secretId}`;
    const existing = this.#described.get(k);
    if (existing && existing.startedSeq >= seq && Date.now() - existing.startedAt <= this.#maxAgeMs) return existing.result;
    const described: Described = { startedAt: Date.now(), startedSeq: this.#seq, result: Promise.resolve(undefined) };
    described.result = (async (): Promise<Entry | undefined> => {
      try {
        const out = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
        // Scheduled for deletion: let a read report it.
        if (out.DeletedDate) return undefined;
        return { name: out.Name, arn: out.ARN, versionsToStages: out.VersionIdsToStages ?? {} };
      } catch (err) {
        const code = awsErrorCode(err);
        if (code === 'AccessDeniedException' || code === 'AccessDenied') this.#describeRefused.add(identityKey);
        this.#log.debug({ code }, 'DescribeSecret after a change event failed; reading the value instead');
        if (this.#described.get(k) === described) this.#described.delete(k);
        return undefined;
      }
    })();
    this.#described.set(k, described);
    return described.result;
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
    const startedSeq = this.#seq;
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
    const snapshot: Snapshot = { at: Date.now(), startedSeq, entries, byName: new Map(entries.filter((e) => e.name).map((e) => [e.name!, e])) };
    this.#snapshots.set(listKey, snapshot);
    return snapshot;
  }
}
