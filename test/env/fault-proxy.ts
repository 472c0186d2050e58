// Fault injection for the reliability tests: two small loopback proxies the test controls.
//
// HttpFaultProxy sits in front of an HTTP upstream (moto). Each request is forwarded unless an
// active fault fires for it: added latency, a ThrottlingException, a 500, a 503, a reset
// connection, or a black hole (the request is read and never answered, like a black-holed VPC
// endpoint). Every fault has a probability and a time window. It counts what it saw.
//
// TcpFaultProxy sits in front of a TLS server (the kube-apiserver): it pipes bytes without
// looking at them, so TLS and client certificates pass through untouched. Faults: reset every
// connection (open ones and new ones) or pause (a partition: bytes stop flowing both ways and new
// connections wait) until healed.
import { createServer as createHttpServer, request, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';

export type HttpFaultKind = 'latency' | 'throttle' | 'error500' | 'error503' | 'reset' | 'blackhole';

export interface HttpFault {
  kind: HttpFaultKind;
  /** Chance that the fault fires for one request (0..1); default 1. */
  probability?: number;
  /** The fault starts this long after it is added (default 0) and lasts durationMs (default: until cleared). */
  delayMs?: number;
  durationMs?: number;
  /** For 'latency': milliseconds added before the request is forwarded. */
  latencyMs?: number;
  /** Only requests this predicate accepts are affected (default: every AWS call, not moto-api). */
  match?: (req: IncomingMessage) => boolean;
}

export interface HttpFaultStats {
  /** Requests received (moto-api calls excluded). */
  requests: number;
  /** Requests per AWS operation (from X-Amz-Target or the query Action). */
  byOperation: Record<string, number>;
  /** Faults injected, per kind. */
  faults: Record<HttpFaultKind, number>;
}

interface ActiveFault extends Required<Pick<HttpFault, 'kind' | 'probability' | 'latencyMs'>> {
  from: number;
  until: number;
  match: (req: IncomingMessage) => boolean;
}

const isAwsCall = (req: IncomingMessage) => !(req.url ?? '').startsWith('/moto-api');

export function awsOperation(req: IncomingMessage, body?: Buffer): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').pop() ?? target;
  const fromQuery = /(?:^|&)Action=([A-Za-z]+)/.exec(body?.toString('utf8') ?? '')?.[1] ?? /[?&]Action=([A-Za-z]+)/.exec(req.url ?? '')?.[1];
  return fromQuery ?? 'Unknown';
}

const emptyFaults = (): Record<HttpFaultKind, number> => ({ latency: 0, throttle: 0, error500: 0, error503: 0, reset: 0, blackhole: 0 });

export class HttpFaultProxy {
  readonly #server: HttpServer;
  readonly #upstream: URL;
  #faults: ActiveFault[] = [];
  readonly stats: HttpFaultStats = { requests: 0, byOperation: {}, faults: emptyFaults() };
  /** Every AWS request seen: its operation and request body (what the operator asked, never an answer). */
  readonly requests: Array<{ operation: string; body: string }> = [];
  /** With recordAnswers on: every answer forwarded from upstream (tests that must see what STS issued). */
  readonly answers: Array<{ operation: string; status: number; body: string }> = [];
  recordAnswers = false;
  /** Forward the client's Host header (SigV4 signs it: needed in front of moto with IAM enforcement). */
  preserveHost = false;
  url = '';

  private constructor(upstream: string) {
    this.#upstream = new URL(upstream);
    this.#server = createHttpServer((req, res) => void this.#handle(req, res));
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `upstream` (http://host:port). */
  static async start(upstream: string): Promise<HttpFaultProxy> {
    const proxy = new HttpFaultProxy(upstream);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = proxy.#server.address();
    if (!address || typeof address !== 'object') throw new Error('fault proxy: no address');
    proxy.url = `http://127.0.0.1:${address.port}`;
    return proxy;
  }

  /** Adds a fault; returns a function that removes it. */
  add(fault: HttpFault): () => void {
    const from = Date.now() + (fault.delayMs ?? 0);
    const active: ActiveFault = {
      kind: fault.kind,
      probability: fault.probability ?? 1,
      latencyMs: fault.latencyMs ?? 0,
      from,
      until: fault.durationMs === undefined ? Number.POSITIVE_INFINITY : from + fault.durationMs,
      match: fault.match ?? isAwsCall,
    };
    this.#faults.push(active);
    return () => { this.#faults = this.#faults.filter((f) => f !== active); };
  }

  clear(): void {
    this.#faults = [];
  }

  /** Total faults injected (latency included). */
  get faultCount(): number {
    return Object.values(this.stats.faults).reduce((a, b) => a + b, 0);
  }

  resetStats(): void {
    this.stats.requests = 0;
    this.stats.byOperation = {};
    this.stats.faults = emptyFaults();
  }

  async close(): Promise<void> {
    this.#faults = [];
    await new Promise<void>((resolve) => { this.#server.close(() => resolve()); this.#server.closeAllConnections(); });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const counted = isAwsCall(req);
    if (counted) {
      this.stats.requests++;
      const op = awsOperation(req, body);
      this.stats.byOperation[op] = (this.stats.byOperation[op] ?? 0) + 1;
      this.requests.push({ operation: op, body: body.toString('utf8') });
    }
    const now = Date.now();
    const firing = this.#faults.filter((f) => now >= f.from && now < f.until && f.match(req) && Math.random() < f.probability);
    const latency = firing.filter((f) => f.kind === 'latency').reduce((sum, f) => sum + f.latencyMs, 0);
    if (latency > 0) {
      this.stats.faults.latency++;
      await new Promise((r) => setTimeout(r, latency));
    }
    const failure = firing.find((f) => f.kind !== 'latency');
    switch (failure?.kind) {
      case 'throttle':
        this.stats.faults.throttle++;
        return this.#json(res, 400, 'ThrottlingException', 'Rate exceeded');
      case 'error500':
        this.stats.faults.error500++;
        return this.#json(res, 500, 'InternalFailure', 'Internal service error');
      case 'error503':
        this.stats.faults.error503++;
        return this.#json(res, 503, 'ServiceUnavailable', 'Service unavailable');
      case 'reset':
        this.stats.faults.reset++;
        req.socket.resetAndDestroy();
        return;
      case 'blackhole':
        // No answer, ever: the connection stays open until the client gives up or close().
        this.stats.faults.blackhole++;
        return;
      default:
        this.#forward(req, res, body, counted ? awsOperation(req, body) : 'moto-api');
    }
  }

  #json(res: ServerResponse, status: number, type: string, message: string): void {
    const json = JSON.stringify({ __type: type, message });
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-ErrorType': type,
      'x-amzn-RequestId': `fault-${Math.random().toString(36).slice(2)}`,
      'content-length': Buffer.byteLength(json),
    });
    res.end(json);
  }

  #forward(req: IncomingMessage, res: ServerResponse, body: Buffer, operation: string): void {
    const headers = { ...req.headers, host: this.preserveHost ? req.headers.host : this.#upstream.host };
    const upstream = request({ host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (this.recordAnswers) {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => this.answers.push({ operation, status: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      }
      answer.pipe(res);
    });
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    upstream.end(body);
  }
}

export type TcpMode = 'pass' | 'reset' | 'pause';

export interface TcpFaultStats {
  connections: number;
  /** Connections reset by a fault (new ones refused, open ones cut). */
  reset: number;
  /** Connections held during a pause. */
  paused: number;
}

interface Pair { client: Socket; server?: Socket }

export class TcpFaultProxy {
  readonly #server: TcpServer;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #mode: TcpMode = 'pass';
  #healTimer: NodeJS.Timeout | undefined;
  #waiting: Socket[] = [];
  readonly stats: TcpFaultStats = { connections: 0, reset: 0, paused: 0 };
  port = 0;

  private constructor(target: string) {
    const url = new URL(target);
    this.#target = { host: url.hostname, port: Number(url.port) };
    this.#server = createTcpServer((socket) => this.#accept(socket));
  }

  /** Listens on 127.0.0.1 (a free port) and pipes to `target` (https://host:port or tcp://host:port). */
  static async start(target: string): Promise<TcpFaultProxy> {
    const proxy = new TcpFaultProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  get mode(): TcpMode {
    return this.#mode;
  }

  /** Starts a fault now; with durationMs it heals by itself. */
  cut(mode: Exclude<TcpMode, 'pass'>, durationMs?: number): void {
    clearTimeout(this.#healTimer);
    this.#mode = mode;
    for (const pair of this.#pairs) {
      if (mode === 'reset') this.#reset(pair);
      else { pair.client.pause(); pair.server?.pause(); this.stats.paused++; }
    }
    if (durationMs !== undefined) {
      this.#healTimer = setTimeout(() => this.heal(), durationMs);
      this.#healTimer.unref();
    }
  }

  heal(): void {
    clearTimeout(this.#healTimer);
    this.#mode = 'pass';
    for (const pair of this.#pairs) { pair.client.resume(); pair.server?.resume(); }
    for (const socket of this.#waiting.splice(0)) this.#pipe(socket);
  }

  async close(): Promise<void> {
    clearTimeout(this.#healTimer);
    for (const pair of this.#pairs) { pair.client.destroy(); pair.server?.destroy(); }
    for (const s of this.#waiting.splice(0)) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.stats.connections++;
    socket.on('error', () => undefined);
    if (this.#mode === 'reset') { this.stats.reset++; socket.resetAndDestroy(); return; }
    if (this.#mode === 'pause') {
      this.stats.paused++;
      socket.pause();
      this.#waiting.push(socket);
      socket.once('close', () => { this.#waiting = this.#waiting.filter((s) => s !== socket); });
      return;
    }
    this.#pipe(socket);
  }

  #pipe(client: Socket): void {
    if (client.destroyed) return;
    const server = connect(this.#target.port, this.#target.host);
    const pair: Pair = { client, server };
    this.#pairs.add(pair);
    server.on('error', () => client.destroy());
    client.on('error', () => server.destroy());
    const done = () => { this.#pairs.delete(pair); client.destroy(); server.destroy(); };
    client.on('close', done);
    server.on('close', done);
    client.pipe(server);
    server.pipe(client);
    client.resume();
  }

  #reset(pair: Pair): void {
    this.stats.reset++;
    this.#pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.server?.destroy();
  }
}
