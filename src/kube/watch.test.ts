// The watch stream against a local HTTP server playing the apiserver.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKubeConfig } from '../../test/helpers/local-kubeconfig.js';
import { KubeApiError } from './http.js';
import { watchStream, WatchTimeoutError } from './watch.js';

let server: Server;
let port: number;
let respond: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;

beforeAll(async () => {
  server = createServer((req, res) => respond(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function collect() {
  const events: Array<[string, unknown]> = [];
  let resolveDone!: (err: unknown) => void;
  const done = new Promise<unknown>((r) => { resolveDone = r; });
  let calls = 0;
  return { events, done, onEvent: (t: string, o: unknown) => events.push([t, o]), onDone: (err: unknown) => { calls++; resolveDone(err); }, calls: () => calls };
}

describe('watchStream', () => {
  it('sends the query with watch=true and the token, parses events split anywhere across chunks, and ends once', async () => {
    let seen: URL | undefined;
    let auth: string | undefined;
    respond = (req, res) => {
      seen = new URL(req.url!, 'http://x');
      auth = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'application/json' });
      const a = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'é-one', resourceVersion: '5' } } });
      const b = JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '6' } } });
      const bytes = Buffer.from(`${a}\n\nnot json\n${b}\n`);
      // Cut inside the two-byte "é" and inside the second line.
      const cut = bytes.indexOf(Buffer.from('é')) + 1;
      res.write(bytes.subarray(0, cut));
      setTimeout(() => { res.write(bytes.subarray(cut, cut + 40)); setTimeout(() => res.end(bytes.subarray(cut + 40)), 20); }, 20);
    };
    const c = collect();
    await watchStream(localKubeConfig(port), '/api/v1/secrets', { resourceVersion: '4', allowWatchBookmarks: true, labelSelector: undefined }, c.onEvent, c.onDone);
    expect(await c.done).toBeNull();
    expect(seen?.searchParams.get('watch')).toBe('true');
    expect(seen?.searchParams.get('resourceVersion')).toBe('4');
    expect(seen?.searchParams.get('allowWatchBookmarks')).toBe('true');
    expect(seen?.searchParams.has('labelSelector')).toBe(false);
    expect(auth).toBe('Bearer t');
    expect(c.events).toEqual([
      ['ADDED', { metadata: { name: 'é-one', resourceVersion: '5' } }],
      ['BOOKMARK', { metadata: { resourceVersion: '6' } }],
    ]);
    expect(c.calls()).toBe(1);
  });

  it('throws the apiserver status as KubeApiError with its code', async () => {
    respond = (_req, res) => { res.writeHead(410, { 'content-type': 'application/json' }); res.end('{"kind":"Status","code":410}'); };
    const c = collect();
    const err = await watchStream(localKubeConfig(port), '/api/v1/secrets', {}, c.onEvent, c.onDone).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).code).toBe(410);
    expect(c.calls()).toBe(0);
  });

  it('gives up on a stream that sends nothing for the inactivity time, with a TimeoutError', async () => {
    respond = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.flushHeaders(); };
    const c = collect();
    const t0 = Date.now();
    await watchStream(localKubeConfig(port), '/api/v1/secrets', {}, c.onEvent, c.onDone, 300);
    const err = await c.done;
    expect(err).toBeInstanceOf(WatchTimeoutError);
    expect((err as Error).name).toBe('TimeoutError');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(c.calls()).toBe(1);
  });

  it('an abort by the caller ends it once, without events after', async () => {
    let resRef: ServerResponse | undefined;
    respond = (_req, res) => { resRef = res; res.writeHead(200, { 'content-type': 'application/json' }); res.flushHeaders(); };
    const c = collect();
    const controller = await watchStream(localKubeConfig(port), '/api/v1/secrets', {}, c.onEvent, c.onDone);
    controller.abort();
    await c.done;
    resRef?.write(`${JSON.stringify({ type: 'ADDED', object: {} })}\n`);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.events).toEqual([]);
    expect(c.calls()).toBe(1);
  });
});
