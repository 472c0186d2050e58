// A fault proxy for the kube-apiserver that sees requests, not just bytes. TcpFaultProxy cannot
// tell the Secret watch from an ExternalLLMSecret write (both are TLS); this one terminates TLS
// with a certificate of its own CA, forwards to the apiserver as the test admin, and fails the
// requests a rule matches: reset the connection or answer 503. Adding a rule also cuts the
// matching requests in flight (watches), so a test can decide exactly which watch comes back
// first after an outage instead of leaving it to backoff timing.
import { mkdtempSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createPki, readPem } from './certs.js';
import type { TestEnv } from './environment.js';

export interface KubeFaultRule {
  /** 'reset' drops the connection; 503 answers with a Status the client treats as a server error. */
  mode: 'reset' | 503;
  match(req: { method: string; path: string; watch: boolean }): boolean;
}

/** Requests on a namespace's Secret collection: the managed-Secret list and watch. */
export const secretCollection = (namespace: string) => (r: { method: string; path: string }) =>
  r.method === 'GET' && r.path === `/api/v1/namespaces/${namespace}/secrets`;
/** Writes of one Secret (update) or of any Secret in a namespace (create, update). */
export const secretWrites = (namespace: string, name?: string) => (r: { method: string; path: string }) =>
  ['POST', 'PUT', 'PATCH'].includes(r.method) && (name ? r.path === `/api/v1/namespaces/${namespace}/secrets/${name}` : r.path.startsWith(`/api/v1/namespaces/${namespace}/secrets`));
export const everything = () => true;

interface InFlight { req: IncomingMessage; res: ServerResponse; info: { method: string; path: string; watch: boolean } }

export class KubeFaultProxy {
  readonly #server: Server;
  readonly #upstream: URL;
  readonly #agent: Agent;
  readonly #caPem: string;
  readonly #rules = new Set<KubeFaultRule>();
  readonly #inFlight = new Set<InFlight>();
  readonly stats = { requests: 0, failed: 0 };
  port = 0;

  private constructor(env: TestEnv, pki: { caPem: string; certPem: string; keyPem: string }) {
    this.#upstream = new URL(env.server);
    this.#caPem = pki.caPem;
    this.#agent = new Agent({ keepAlive: true, ca: env.caPem, cert: env.adminCertPem, key: env.adminKeyPem });
    this.#server = createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => this.#handle(req, res));
  }

  static async start(env: TestEnv): Promise<KubeFaultProxy> {
    const pki = createPki(mkdtempSync(join(tmpdir(), 'els-kube-proxy-')));
    const proxy = new KubeFaultProxy(env, { caPem: readPem(pki.caCert), certPem: readPem(pki.servingCert), keyPem: readPem(pki.servingKey) });
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  /** A kubeconfig for the operator: the proxy's address and CA (the proxy is admin upstream). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'proxy', server: `https://127.0.0.1:${this.port}`, caData: Buffer.from(this.#caPem).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'via-proxy', token: 'unused-the-proxy-authenticates-upstream' }],
      contexts: [{ name: 'proxy', cluster: 'proxy', user: 'via-proxy' }],
      currentContext: 'proxy',
    });
    return kc;
  }

  /** Fails matching requests from now on, in flight ones included; returns the undo. */
  fail(rule: KubeFaultRule): () => void {
    this.#rules.add(rule);
    for (const f of [...this.#inFlight]) if (rule.match(f.info)) this.#inject(rule, f.req, f.res);
    return () => { this.#rules.delete(rule); };
  }

  clear(): void {
    this.#rules.clear();
  }

  async close(): Promise<void> {
    for (const f of this.#inFlight) f.req.socket.destroy();
    this.#agent.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'https://proxy');
    const info = { method: req.method ?? 'GET', path: url.pathname, watch: url.searchParams.get('watch') === 'true' };
    for (const rule of this.#rules) if (rule.match(info)) { this.#inject(rule, req, res); return; }
    const flight: InFlight = { req, res, info };
    this.#inFlight.add(flight);
    const done = () => this.#inFlight.delete(flight);
    res.once('close', done);
    const headers = { ...req.headers, host: this.#upstream.host };
    delete headers.authorization;
    const upstream = request({ host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers, agent: this.#agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      res.once('close', () => answer.destroy());
    });
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(upstream);
  }

  #inject(rule: KubeFaultRule, req: IncomingMessage, res: ServerResponse): void {
    this.stats.failed++;
    if (rule.mode === 'reset' || res.headersSent) { req.socket.destroy(); return; }
    const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'injected by the test fault proxy', reason: 'ServiceUnavailable', code: 503 });
    res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}
