// KubeClient against a local HTTP server that plays the apiserver's part for one answer at a time:
// every request is counted in kube_api_requests_total by verb, resource and code, failures
// included, and the per-call timeout only ever shortens the client's deadline.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localKubeConfig } from '../../test/helpers/local-kubeconfig.js';
import { GROUP, PLURAL, VERSION } from '../crds/constants.js';
import { Metrics } from '../observability/metrics.js';
import { httpCode, KubeClient } from './client.js';
import { KubeRequestTimeoutError } from './http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let port: number;
let handler: Handler;
const seen: Array<{ method: string; url: string }> = [];

const status = (code: number, reason: string): Handler => (_req, res) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `${reason} (test)`, reason, code }));
};
const json = (body: unknown): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
/** Never answers (until the server closes). */
const silent: Handler = () => undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url! });
    req.resume();
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
});

function client(requestTimeoutMs = 5_000): { kube: KubeClient; metrics: Metrics } {
  const kc = localKubeConfig(port);
  const metrics = new Metrics({ processMetrics: false });
  return { kube: new KubeClient(kc, metrics, requestTimeoutMs), metrics };
}

async function counted(metrics: Metrics): Promise<Array<{ verb: string; resource: string; code: string; value: number }>> {
  const { values } = await metrics.kubeRequests.get();
  return values.map((v) => ({ ...(v.labels as { verb: string; resource: string; code: string }), value: v.value }));
}

describe('KubeClient request counting', () => {
  it('a failing call is counted with its verb, resource and HTTP code, and the error keeps the code', async () => {
    const { kube, metrics } = client();
    handler = status(500, 'InternalError');
    const err = await kube.getExternalLLMSecret('team-a', 'els').catch((e: unknown) => e);
    expect(httpCode(err)).toBe(500);
    expect(seen).toEqual([{ method: 'GET', url: `/apis/${GROUP}/${VERSION}/namespaces/team-a/${PLURAL}/els` }]);
    expect(await counted(metrics)).toEqual([{ verb: 'get', resource: PLURAL, code: '500', value: 1 }]);
  });

  it('a 404 on a Lease read is counted as 404 and answers undefined', async () => {
    const { kube, metrics } = client();
    handler = status(404, 'NotFound');
    expect(await kube.getLease('ops', 'leader')).toBeUndefined();
    expect(seen).toEqual([{ method: 'GET', url: '/apis/coordination.k8s.io/v1/namespaces/ops/leases/leader' }]);
    expect(await counted(metrics)).toEqual([{ verb: 'get', resource: 'leases', code: '404', value: 1 }]);
  });

  it('a stale Lease replace is counted as update/409 and rejects with 409', async () => {
    const { kube, metrics } = client();
    handler = status(409, 'Conflict');
    const err = await kube.replaceLease({ metadata: { name: 'leader', namespace: 'ops', resourceVersion: '1' }, spec: {} }).catch((e: unknown) => e);
    expect(httpCode(err)).toBe(409);
    expect(seen).toEqual([{ method: 'PUT', url: '/apis/coordination.k8s.io/v1/namespaces/ops/leases/leader' }]);
    expect(await counted(metrics)).toEqual([{ verb: 'update', resource: 'leases', code: '409', value: 1 }]);
  });

  it('successes and failures add up per label set; listExternalLLMSecrets sends its selector and limit', async () => {
    const { kube, metrics } = client();
    handler = json({ apiVersion: `${GROUP}/${VERSION}`, kind: 'ExternalLLMSecretList', metadata: { resourceVersion: '7' }, items: [] });
    const list = await kube.listExternalLLMSecrets(undefined, 'shard=a', 1);
    expect(list.metadata.resourceVersion).toBe('7');
    await kube.listExternalLLMSecrets('team-a');
    handler = status(403, 'Forbidden');
    await expect(kube.listExternalLLMSecrets('team-b')).rejects.toMatchObject({ code: 403 });
    expect(seen.map((s) => s.url)).toEqual([
      `/apis/${GROUP}/${VERSION}/${PLURAL}?labelSelector=shard%3Da&limit=1`,
      `/apis/${GROUP}/${VERSION}/namespaces/team-a/${PLURAL}`,
      `/apis/${GROUP}/${VERSION}/namespaces/team-b/${PLURAL}`,
    ]);
    expect(await counted(metrics)).toEqual([
      { verb: 'list', resource: PLURAL, code: '2xx', value: 2 },
      { verb: 'list', resource: PLURAL, code: '403', value: 1 },
    ]);
  });

  it('an unanswered request is counted as timeout; timeoutMs shortens the deadline but never lengthens it', async () => {
    const { kube, metrics } = client(2_000);
    handler = silent;
    let started = Date.now();
    const short = await kube.getLease('ops', 'leader', { timeoutMs: 100 }).catch((e: unknown) => e);
    const shortMs = Date.now() - started;
    expect(short).toBeInstanceOf(KubeRequestTimeoutError);
    expect(shortMs).toBeGreaterThanOrEqual(90);
    expect(shortMs).toBeLessThan(1_500); // well under the client's 2 s
    started = Date.now();
    const long = await kube.createLease({ metadata: { name: 'leader', namespace: 'ops' }, spec: {} }, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    const longMs = Date.now() - started;
    expect(long).toBeInstanceOf(KubeRequestTimeoutError);
    expect(longMs).toBeGreaterThanOrEqual(1_950);
    expect(longMs).toBeLessThan(10_000);
    expect(await counted(metrics)).toEqual([
      { verb: 'get', resource: 'leases', code: 'timeout', value: 1 },
      { verb: 'create', resource: 'leases', code: 'timeout', value: 1 },
    ]);
  });
});
