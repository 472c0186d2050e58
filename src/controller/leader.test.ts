// Leader election against an in-memory Lease store that behaves like the apiserver where it
// matters: resourceVersion on every write, 409 on a create of an existing Lease and on a replace
// with a stale resourceVersion, watch events on writes. Time is vitest's fake clock.
import type { V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CallOptions } from '../kube/client.js';
import { LEADER_DEFAULTS, LeaderElector, type LeaseClient } from './leader.js';

const NS = 'ops';
const NAME = 'external-llm-secrets-leader';
const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = LEADER_DEFAULTS;

class ApiError extends Error {
  constructor(readonly code: number) { super(`HTTP ${code}`); }
}

interface Call { verb: 'get' | 'create' | 'update'; who: string; timeoutMs: number | undefined; at: number }

class FakeLeaseStore {
  lease: V1Lease | undefined;
  #rv = 0;
  /** When set, every request fails with this HTTP code (an apiserver that refuses us). */
  failWith: number | undefined;
  /** Runs after a get has answered, before the caller sees the answer: a concurrent writer. */
  afterGet: (() => void) | undefined;
  readonly calls: Call[] = [];
  readonly #watchers = new Set<(phase: string, lease: V1Lease) => void>();

  /** Writes as another process would (a kubectl edit, a leader we do not run). */
  put(spec: V1Lease['spec']): void {
    this.lease = { metadata: { name: NAME, namespace: NS, resourceVersion: String(++this.#rv) }, spec };
    this.#notify();
  }

  holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }

  #notify(): void {
    const copy = structuredClone(this.lease!);
    for (const w of this.#watchers) w('MODIFIED', copy);
  }

  #record(verb: Call['verb'], who: string, opts: CallOptions | undefined): void {
    this.calls.push({ verb, who, timeoutMs: opts?.timeoutMs, at: Date.now() });
    if (this.failWith !== undefined) throw new ApiError(this.failWith);
  }

  client(who: string): LeaseClient {
    return {
      getLease: async (namespace, name, opts) => {
        expect([namespace, name]).toEqual([NS, NAME]);
        this.#record('get', who, opts);
        const answer = this.lease ? structuredClone(this.lease) : undefined;
        this.afterGet?.();
        return answer;
      },
      createLease: async (lease, opts) => {
        this.#record('create', who, opts);
        if (this.lease) throw new ApiError(409);
        this.lease = structuredClone(lease);
        this.lease.metadata = { ...lease.metadata, resourceVersion: String(++this.#rv) };
        this.#notify();
        return structuredClone(this.lease);
      },
      replaceLease: async (lease, opts) => {
        this.#record('update', who, opts);
        if (!this.lease) throw new ApiError(404);
        if (lease.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion) throw new ApiError(409);
        this.lease = structuredClone(lease);
        this.lease.metadata = { ...lease.metadata, resourceVersion: String(++this.#rv) };
        this.#notify();
        return structuredClone(this.lease);
      },
      watchLease: async (namespace, name, onEvent, done) => {
        expect([namespace, name]).toEqual([NS, NAME]);
        this.#watchers.add(onEvent);
        const controller = new AbortController();
        controller.signal.addEventListener('abort', () => { this.#watchers.delete(onEvent); done(null); });
        return controller;
      },
    };
  }
}

interface Candidate {
  elector: LeaderElector;
  started: number;
  stopped: number;
}

const electors: LeaderElector[] = [];

function candidate(store: FakeLeaseStore, identity: string, now?: () => number): Candidate {
  const c: Candidate = { elector: undefined as unknown as LeaderElector, started: 0, stopped: 0 };
  c.elector = new LeaderElector({
    kube: store.client(identity),
    namespace: NS,
    name: NAME,
    identity,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    log: pino({ level: 'silent' }),
    onStartedLeading: () => { c.started++; },
    onStoppedLeading: () => { c.stopped++; },
    now,
  });
  electors.push(c.elector);
  return c;
}

/** Lets the fake clock run, settling the promise chains each timer starts. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2025-01-01T00:00:00Z') });
});

afterEach(async () => {
  for (const e of electors.splice(0)) await e.release();
  vi.useRealTimers();
});

describe('LeaderElector', () => {
  it('creates the Lease and leads when there is none', async () => {
    const store = new FakeLeaseStore();
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    expect(a.elector.isLeader).toBe(true);
    expect(a.started).toBe(1);
    expect(store.holder()).toBe('a');
    expect(store.lease?.spec).toMatchObject({ leaseDurationSeconds: leaseDurationMs / 1000, leaseTransitions: 0 });
    expect(store.calls.map((c) => c.verb)).toEqual(['get', 'create']);
  });

  it('takes a released Lease (no holder) at once, counting a transition', async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new Date(), leaseTransitions: 3 });
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    expect(a.elector.isLeader).toBe(true);
    expect(store.holder()).toBe('a');
    expect(store.lease?.spec?.leaseTransitions).toBe(4);
  });

  it('does not take a Lease another holder keeps renewing, however long it waits', async () => {
    const store = new FakeLeaseStore();
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    const b = candidate(store, 'b');
    b.elector.start();
    await advance(5 * leaseDurationMs);
    expect(a.elector.isLeader).toBe(true);
    expect(b.elector.isLeader).toBe(false);
    expect(b.started).toBe(0);
    expect(store.holder()).toBe('a');
    expect(store.calls.filter((c) => c.who === 'b').map((c) => c.verb).every((v) => v === 'get')).toBe(true);
    expect(store.lease?.spec?.leaseTransitions).toBe(0);
  });

  it('takes over a Lease whose holder stopped renewing, after leaseDuration on its own clock', async () => {
    const store = new FakeLeaseStore();
    // Written by a holder whose clock is an hour behind ours: its renewTime looks long expired,
    // but expiry is measured from when this candidate first saw the record, never from renewTime.
    store.put({ holderIdentity: 'dead', leaseDurationSeconds: leaseDurationMs / 1000, renewTime: new Date(Date.now() - 3_600_000), leaseTransitions: 2 });
    const b = candidate(store, 'b', () => Date.now() + 7_000); // and b's own clock is off too
    const t0 = Date.now();
    b.elector.start();
    await advance(leaseDurationMs - 1);
    expect(b.elector.isLeader).toBe(false);
    expect(store.holder()).toBe('dead');
    await advance(retryPeriodMs + 1);
    expect(b.elector.isLeader).toBe(true);
    expect(b.started).toBe(1);
    expect(store.holder()).toBe('b');
    expect(store.lease?.spec?.leaseTransitions).toBe(3);
    const takeover = store.calls.find((c) => c.verb === 'update' && c.who === 'b')!;
    expect(takeover.at - t0).toBeGreaterThan(leaseDurationMs);
    expect(takeover.at - t0).toBeLessThanOrEqual(leaseDurationMs + retryPeriodMs);
    // acquireTime/renewTime are written on b's clock.
    expect(new Date(store.lease!.spec!.acquireTime!).getTime()).toBe(takeover.at + 7_000);
  });

  it('renews every retry period while leading, bounding each call by what is left of the renew deadline', async () => {
    const store = new FakeLeaseStore();
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    const first = store.lease!;
    await advance(retryPeriodMs);
    const second = store.lease!;
    expect(second.metadata?.resourceVersion).not.toBe(first.metadata?.resourceVersion);
    expect(new Date(second.spec!.renewTime!).getTime() - new Date(first.spec!.renewTime!).getTime()).toBe(retryPeriodMs);
    expect(second.spec?.acquireTime).toEqual(first.spec?.acquireTime);
    expect(second.spec?.leaseTransitions).toBe(0);
    await advance(10 * retryPeriodMs);
    expect(store.calls.filter((c) => c.verb === 'update')).toHaveLength(11);
    expect(a.stopped).toBe(0);
    // Before leading there is no cap; while leading each call gets the time left until the deadline.
    expect(store.calls[0]!.timeoutMs).toBeUndefined();
    const leading = store.calls.slice(2);
    expect(leading.length).toBeGreaterThan(0);
    for (const c of leading) expect(c.timeoutMs).toBe(renewDeadlineMs - retryPeriodMs);
  });

  it('stops leading when it cannot renew within the renew deadline, and stops calling', async () => {
    const store = new FakeLeaseStore();
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    const renewedAt = Date.now();
    store.failWith = 503;
    await advance(renewDeadlineMs - 1);
    expect(a.elector.isLeader).toBe(true);
    expect(a.stopped).toBe(0);
    // Each failed attempt had less time left: the cap shrinks towards the deadline.
    const failed = store.calls.filter((c) => c.at > renewedAt);
    expect(failed.map((c) => c.timeoutMs)).toEqual(failed.map((c) => renewDeadlineMs - (c.at - renewedAt)));
    await advance(2 * retryPeriodMs);
    expect(a.elector.isLeader).toBe(false);
    expect(a.stopped).toBe(1);
    const callsAfter = store.calls.length;
    await advance(10 * retryPeriodMs);
    expect(store.calls.length).toBe(callsAfter);
    expect(a.stopped).toBe(1);
  });

  it('stops leading when someone else holds the Lease it was renewing', async () => {
    const store = new FakeLeaseStore();
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    store.put({ holderIdentity: 'intruder', leaseDurationSeconds: 15, renewTime: new Date(), leaseTransitions: 1 });
    await advance(renewDeadlineMs + retryPeriodMs);
    expect(a.elector.isLeader).toBe(false);
    expect(a.stopped).toBe(1);
    expect(store.holder()).toBe('intruder');
  });

  it('a write between its read and its replace (409) does not make it leader', async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: '', leaseDurationSeconds: 1, renewTime: new Date(), leaseTransitions: 0 });
    let raced = false;
    store.afterGet = () => {
      if (raced) return;
      raced = true;
      store.put({ holderIdentity: 'c', leaseDurationSeconds: 15, renewTime: new Date(), leaseTransitions: 1 });
    };
    const b = candidate(store, 'b');
    b.elector.start();
    await advance(0);
    expect(store.calls.map((c) => c.verb)).toEqual(['get', 'update']);
    expect(b.elector.isLeader).toBe(false);
    expect(b.started).toBe(0);
    expect(store.holder()).toBe('c');
  });

  it('release() empties the Lease, and a watching standby takes over well before its next retry', async () => {
    const store = new FakeLeaseStore();
    const a = candidate(store, 'a');
    a.elector.start();
    await advance(0);
    const b = candidate(store, 'b');
    b.elector.start();
    await advance(retryPeriodMs / 2); // b has read the Lease and waits for its next retry
    expect(b.elector.isLeader).toBe(false);
    const releasedAt = Date.now();
    await a.elector.release();
    expect(a.elector.isLeader).toBe(false);
    await advance(0);
    expect(b.elector.isLeader).toBe(true);
    expect(store.holder()).toBe('b');
    expect(Date.now() - releasedAt).toBeLessThan(retryPeriodMs / 2);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
    // a is done: no more calls from it.
    const aCalls = store.calls.filter((c) => c.who === 'a').length;
    await advance(5 * retryPeriodMs);
    expect(store.calls.filter((c) => c.who === 'a').length).toBe(aCalls);
  });

  it('release() of a standby does not touch the Lease', async () => {
    const store = new FakeLeaseStore();
    store.put({ holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date(), leaseTransitions: 0 });
    const b = candidate(store, 'b');
    b.elector.start();
    await advance(0);
    const rv = store.lease?.metadata?.resourceVersion;
    await b.elector.release();
    expect(store.lease?.metadata?.resourceVersion).toBe(rv);
    expect(store.holder()).toBe('other');
    expect(store.calls.filter((c) => c.who === 'b' && c.verb !== 'get')).toEqual([]);
  });
});
