// The list-watch cache against a local HTTP server playing the apiserver: what the handlers hear
// on a list, on watch events, on 410 Gone (relist: only differences), and when the server ends a
// watch (resume from the last resourceVersion, no relist).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localKubeConfig } from '../../test/helpers/local-kubeconfig.js';
import { SupervisedInformer } from './informer.js';

type Obj = KubernetesObject & { data?: string };
const obj = (name: string, rv: string, extra: Partial<Obj> = {}): Obj => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] }, ...extra,
});

let server: Server;
let port: number;
let items: Obj[] = [];
let listRv = '10';
const lists: string[] = [];
const watches: Array<{ rv: string; res: ServerResponse }> = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watches.push({ rv: url.searchParams.get('resourceVersion') ?? '', res });
      return;
    }
    lists.push(url.pathname);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ items, metadata: { resourceVersion: listRv } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const w of watches) w.res.destroy();
  await new Promise((resolve) => server.close(resolve));
});

let informer: SupervisedInformer<Obj> | undefined;
afterEach(async () => {
  await informer?.stop();
  informer = undefined;
  for (const w of watches.splice(0)) w.res.end();
  lists.length = 0;
});

const until = async (what: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const send = (type: string, o: unknown) => watches.at(-1)!.res.write(`${JSON.stringify({ type, object: o })}\n`);

function start(): { heard: string[] } {
  const kc = localKubeConfig(port);
  const heard: string[] = [];
  const path = '/api/v1/namespaces/ns/things';
  informer = new SupervisedInformer<Obj>({
    kubeConfig: kc, path, relistMs: 0, log: pino({ level: 'silent' }), name: 'things',
    list: async () => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return await res.json() as { items: Obj[]; metadata: { resourceVersion: string } };
    },
  }, {
    add: (o) => heard.push(`add ${o.metadata!.name}@${o.metadata!.resourceVersion}`),
    update: (o) => heard.push(`update ${o.metadata!.name}@${o.metadata!.resourceVersion}`),
    delete: (o) => heard.push(`delete ${o.metadata!.name}`),
  });
  return { heard };
}

describe('SupervisedInformer', () => {
  it('lists, then watches from the list’s resourceVersion; the cache holds transformed objects', async () => {
    items = [obj('a', '5'), obj('b', '6')];
    listRv = '10';
    const { heard } = start();
    await informer!.start();
    expect(heard).toEqual(['add a@5', 'add b@6']);
    expect(informer!.get('a', 'ns')?.metadata?.managedFields).toBeUndefined();
    await until(() => watches.length === 1);
    expect(watches[0]!.rv).toBe('10');

    send('ADDED', obj('c', '11'));
    send('MODIFIED', obj('a', '12'));
    send('DELETED', obj('b', '13'));
    await until(() => heard.length === 5);
    expect(heard.slice(2)).toEqual(['add c@11', 'update a@12', 'delete b']);
    expect(informer!.list().map((o) => o.metadata!.name).sort()).toEqual(['a', 'c']);
  });

  it('a watch the server ends resumes from the last version seen (a bookmark included), without listing again', async () => {
    items = [obj('a', '5')];
    const { heard } = start();
    await informer!.start();
    await until(() => watches.length === 1);
    send('MODIFIED', obj('a', '20'));
    send('BOOKMARK', { metadata: { resourceVersion: '25' } });
    await until(() => heard.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    watches[0]!.res.end();
    await until(() => watches.length === 2);
    expect(watches[1]!.rv).toBe('25');
    expect(lists).toHaveLength(1);
    expect(informer!.healthy).toBe(true);
  });

  it('a watch the server ends at once is resumed after a pause, not in a tight loop', async () => {
    items = [obj('a', '5')];
    start();
    await informer!.start();
    await until(() => watches.length === 1);
    const t0 = Date.now();
    // End every watch as soon as it opens, for 1.2 s.
    while (Date.now() - t0 < 1_200) {
      for (const w of watches) w.res.end();
      await new Promise((r) => setTimeout(r, 5));
    }
    // Without the pause this is hundreds of requests; with it, about one per 0.5 s.
    expect(watches.length).toBeLessThanOrEqual(5);
    expect(lists).toHaveLength(1);
  });

  it('410 Gone relists, and the handlers hear only what differs from the cache', async () => {
    items = [obj('keep', '1'), obj('change', '2'), obj('gone', '3')];
    const { heard } = start();
    await informer!.start();
    await until(() => watches.length === 1);
    heard.length = 0;

    items = [obj('keep', '1'), obj('change', '7'), obj('new', '8')];
    listRv = '30';
    send('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
    watches[0]!.res.end();
    await until(() => lists.length === 2 && watches.length === 2);
    expect(heard.sort()).toEqual(['add new@8', 'delete gone', 'update change@7']);
    expect(watches[1]!.rv).toBe('30');
  });
});
