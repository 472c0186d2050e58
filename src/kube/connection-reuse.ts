// @kubernetes/client-node 2.0.1 builds a new undici Agent for every API request (KubeConfig's
// createDispatcher is not cached, unlike its createAgent), so every call pays a TCP connect and
// a TLS handshake, on both sides. Measured by the benchmark: TLS set-up led the operator's CPU
// profile, and the apiserver spent as much CPU as the operator. This keeps one dispatcher per
// distinct TLS configuration, so calls reuse keep-alive connections.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;

const wrapped = new WeakSet<KubeConfig>();

export function reuseConnections(kc: KubeConfig): KubeConfig {
  if (wrapped.has(kc)) return kc;
  wrapped.add(kc);
  const target = kc as unknown as { createDispatcher: CreateDispatcher };
  const original = target.createDispatcher.bind(kc);
  const cache = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const c = (cluster ?? {}) as { server?: string; proxyUrl?: string };
    // The key covers everything the dispatcher is built from; certificates that rotate on disk
    // give new key material and so a new dispatcher.
    const key = createHash('sha256').update(JSON.stringify([
      c.server, c.proxyUrl,
      ...['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'].map((k) => {
        const v = agentOptions[k];
        return Buffer.isBuffer(v) ? v.toString('base64') : v;
      }),
    ])).digest('hex');
    if (!cache.has(key)) cache.set(key, original(cluster, agentOptions));
    return cache.get(key);
  };
  return kc;
}
