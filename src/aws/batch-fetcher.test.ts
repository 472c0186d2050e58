// The BatchFetcher over a fake Secrets Manager client and fake timers: how many calls a pattern
// of reads costs, and that errors stay with their secret.
import { BatchGetSecretValueCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../observability/logger.js';
import { BatchFetcher } from './batch-fetcher.js';

class FakeClient {
  readonly calls: string[] = [];
  refuseBatch = false;
  missing = new Set<string>();
  async send(cmd: unknown): Promise<unknown> {
    if (cmd instanceof BatchGetSecretValueCommand) {
      const ids = cmd.input.SecretIdList ?? [];
      this.calls.push(`batch ${ids.length}`);
      if (this.refuseBatch) throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
      return {
        SecretValues: ids.filter((id) => !this.missing.has(id)).map((id) => ({ Name: id, ARN: `arn:${id}`, VersionId: 'v1', SecretString: `value of ${id}` })),
        Errors: ids.filter((id) => this.missing.has(id)).map((id) => ({ SecretId: id, ErrorCode: 'ResourceNotFoundException', Message: 'gone' })),
      };
    }
    if (cmd instanceof GetSecretValueCommand) {
      const id = cmd.input.SecretId!;
      this.calls.push('get');
      if (this.missing.has(id)) throw Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' });
      return { Name: id, ARN: `arn:${id}`, VersionId: 'v1', SecretString: `value of ${id}` };
    }
    throw new Error('unexpected command');
  }
}

const setup = () => {
  const client = new FakeClient();
  const fetcher = new BatchFetcher(createLogger('silent'));
  const read = (id: string, group = 'role-a|us-east-1') => fetcher.get(group, client as unknown as SecretsManagerClient, { secretId: id });
  return { client, read };
};

describe('BatchFetcher', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 1_000_000 }); });
  afterEach(() => { vi.useRealTimers(); });

  it('50 reads of one identity at once: 3 calls (20 + 20 + 10), each value to its reader', async () => {
    const t = setup();
    const reads = Array.from({ length: 50 }, (_, i) => t.read(`s${i}`));
    await vi.advanceTimersByTimeAsync(20);
    const values = await Promise.all(reads);
    expect(t.client.calls).toEqual(['batch 20', 'batch 20', 'batch 10']);
    expect(values.map((v) => v.secretString)).toEqual(Array.from({ length: 50 }, (_, i) => `value of s${i}`));
  });

  it('a trickle (one read every 100 ms for 5 s): the first alone and fast, the rest in full batches, none waits over 2 s', async () => {
    const t = setup();
    const waited: number[] = [];
    const reads: Array<Promise<unknown>> = [];
    for (let i = 0; i < 50; i++) {
      const at = Date.now();
      reads.push(t.read(`s${i}`).then(() => waited.push(Date.now() - at)));
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(2_000);
    await Promise.all(reads);
    expect(t.client.calls[0]).toBe('get');
    expect(waited[0]).toBeLessThanOrEqual(20);
    expect(t.client.calls.length).toBeLessThanOrEqual(5);
    expect(Math.max(...waited)).toBeLessThanOrEqual(2_000);
  });

  it('a batch never spans identities', async () => {
    const t = setup();
    const reads = [t.read('s1', 'a|r'), t.read('s2', 'b|r'), t.read('s3', 'a|r'), t.read('s4', 'b|r')];
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(reads);
    expect(t.client.calls).toEqual(['batch 2', 'batch 2']);
  });

  it('an error for one secret in a batch fails that read only', async () => {
    const t = setup();
    t.client.missing.add('s1');
    const reads = ['s0', 's1', 's2'].map((id) => t.read(id).then(() => 'ok', (e: Error) => e.name));
    await vi.advanceTimersByTimeAsync(20);
    expect(await Promise.all(reads)).toEqual(['ok', 'SyncError', 'ok']);
    expect(t.client.calls).toEqual(['batch 3']);
  });

  it('an identity refused BatchGetSecretValue falls back to GetSecretValue, for good', async () => {
    const t = setup();
    t.client.refuseBatch = true;
    const first = [t.read('s0'), t.read('s1')];
    await vi.advanceTimersByTimeAsync(20);
    await Promise.all(first);
    const later = [t.read('s2'), t.read('s3')];
    await vi.advanceTimersByTimeAsync(2_000);
    await Promise.all(later);
    expect(t.client.calls).toEqual(['batch 2', 'get', 'get', 'get', 'get']);
  });
});
