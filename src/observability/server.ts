// /metrics, /healthz and /readyz. /healthz fails when the event loop has stalled (a hung process
// should be restarted); /readyz when the caches have not synced or, on the leader, a watch is down.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export const STALL_LIMIT_MS = 10_000;

export interface Probes {
  ready(): { ok: boolean; detail: string };
}

export class EventLoopWatch {
  #last = Date.now();
  readonly #timer: NodeJS.Timeout;
  constructor() {
    this.#timer = setInterval(() => { this.#last = Date.now(); }, 1_000);
    this.#timer.unref();
  }
  get stalledMs(): number {
    return Math.max(0, Date.now() - this.#last - 1_000);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

export async function listen(port: number, handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return server;
}

export function metricsHandler(registry: Registry): Parameters<typeof createServer>[1] {
  return (req, res) => {
    if (req.url !== '/metrics') { res.writeHead(404).end(); return; }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
    }, () => res.writeHead(500).end());
  };
}

export function healthHandler(probes: Probes, loop: EventLoopWatch): Parameters<typeof createServer>[1] {
  return (req, res) => {
    if (req.url === '/healthz') {
      const stalled = loop.stalledMs;
      const ok = stalled < STALL_LIMIT_MS;
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : `event loop stalled for ${stalled} ms\n`);
      return;
    }
    if (req.url === '/readyz') {
      const { ok, detail } = probes.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${detail}\n`);
      return;
    }
    res.writeHead(404).end();
  };
}
