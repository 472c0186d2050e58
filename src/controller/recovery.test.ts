import { describe, expect, it } from 'vitest';
import { awsScope, KUBE_SCOPE, RecoveryBoard } from './recovery.js';

function board() {
  const requeued: Array<[string, number]> = [];
  const b = new RecoveryBoard({ requeue: (k, d) => requeued.push([k, d]), random: () => 1, spreadPerKeyMs: 100, maxSpreadMs: 250 });
  return { b, requeued };
}

describe('RecoveryBoard', () => {
  it('requeues the keys waiting for a scope when it comes back, spread and capped', () => {
    const { b, requeued } = board();
    b.failed(awsScope('us-east-1'), 'ns/a');
    b.failed(awsScope('us-east-1'), 'ns/b');
    b.failed(awsScope('us-east-1'), 'ns/c');
    b.failed(awsScope('eu-west-1'), 'ns/d');
    expect(b.recovered(awsScope('us-east-1'))).toBe(3);
    expect(requeued.map(([k]) => k).sort()).toEqual(['ns/a', 'ns/b', 'ns/c']);
    expect(Math.max(...requeued.map(([, d]) => d))).toBe(250);
    expect(b.waiting(awsScope('eu-west-1'))).toBe(1);
    expect(b.recovered(awsScope('us-east-1'))).toBe(0);
  });

  it('forgets keys that succeeded', () => {
    const { b, requeued } = board();
    b.failed(KUBE_SCOPE, 'ns/a');
    b.failed(KUBE_SCOPE, 'ns/b');
    b.succeeded('ns/a');
    expect(b.recovered(KUBE_SCOPE)).toBe(1);
    expect(requeued).toEqual([['ns/b', 100]]);
  });

  it('gives one early retry per failure streak: a key that fails again after an early retry waits for its backoff', () => {
    const { b, requeued } = board();
    b.failed(KUBE_SCOPE, 'ns/a');
    b.recovered(KUBE_SCOPE);
    b.failed(KUBE_SCOPE, 'ns/a'); // the early retry failed: plain backoff
    expect(b.recovered(KUBE_SCOPE)).toBe(0);
    b.failed(KUBE_SCOPE, 'ns/a'); // the backoff retry failed: eligible again
    expect(b.recovered(KUBE_SCOPE)).toBe(1);
    expect(requeued.length).toBe(2);
  });

  it('a key waiting in two scopes is requeued once', () => {
    const { b, requeued } = board();
    b.failed(KUBE_SCOPE, 'ns/a');
    b.failed(awsScope('us-east-1'), 'ns/a');
    b.recovered(KUBE_SCOPE);
    expect(b.recovered(awsScope('us-east-1'))).toBe(0);
    expect(requeued.length).toBe(1);
  });
});
