import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { reuseConnections } from './connection-reuse.js';

function config(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca').toString('base64') }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function dispatcherOf(kc: KubeConfig): Promise<unknown> {
  let dispatcher: unknown;
  await kc.applySecurityAuthentication({ setHeaderParam: () => undefined, setDispatcher: (d: unknown) => { dispatcher = d; } } as never);
  return dispatcher;
}

describe('reuseConnections', () => {
  it('client-node alone builds a new dispatcher (a new connection pool) per request', async () => {
    const kc = config();
    expect(await dispatcherOf(kc)).not.toBe(await dispatcherOf(kc));
  });

  it('with it, requests share one dispatcher, and wrapping twice changes nothing', async () => {
    const kc = reuseConnections(reuseConnections(config()));
    const first = await dispatcherOf(kc);
    expect(first).toBeDefined();
    expect(await dispatcherOf(kc)).toBe(first);
  });
});
