// One JSON request to the apiserver, authenticated by @kubernetes/client-node's KubeConfig
// (applySecurityAuthentication: tokens, client certificates, exec plugins, OIDC, proxies; one
// result serves AUTH_REUSE_MS), sent with undici's request() on the connection pool connection-reuse.ts keeps
// (not fetch: its WHATWG Request/Response/stream objects cost CPU and garbage on every call).
//
// Why not client-node's generated API classes: their modules import ObjectSerializer, which
// imports every generated model (about 900 classes). Measured on Node 24: importing
// @kubernetes/client-node takes a process from 43 to 134 MB RSS, and each answer is converted
// into model instances before we read it. The operator makes a dozen kinds of calls; plain JSON
// answers serve them, and the bundled build (scripts/bundle.ts) then leaves the models out.
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { request, type Dispatcher } from 'undici';
import { VERSION } from '../version.js';

/** A request that got no (complete) answer in time. Carries no HTTP code, so callers retry it. */
export class KubeRequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * The apiserver answered with an error status. code and body have the shape of client-node's
 * ApiException, so the helpers in client.ts read either. The body is the apiserver's Status
 * (names objects, never Secret data); it is still never logged whole.
 */
export class KubeApiError extends Error {
  override name = 'ApiException';
  constructor(readonly code: number, readonly body: string, method: string, path: string) {
    super(`${method} ${path}: HTTP ${code}`);
  }
}

export const CONTENT_TYPE = {
  json: 'application/json',
  mergePatch: 'application/merge-patch+json',
  strategicMergePatch: 'application/strategic-merge-patch+json',
} as const;

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path from the server root, e.g. /api/v1/namespaces/a/secrets. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs: number;
}

export interface Authentication { headers: Record<string, string>; dispatcher: Dispatcher | undefined; at: number }

/**
 * How long one authentication serves further requests. client-node rebuilds it from the
 * kubeconfig on every call (reads and decodes the CA, certificate and key, or the token file,
 * and hashes them to find the pooled connection): in a cold start that was a tenth of the
 * operator's garbage. A rotated token or certificate is picked up within this.
 */
export const AUTH_REUSE_MS = 1_000;
const authentications = new WeakMap<KubeConfig, Authentication>();

export async function authenticate(kc: KubeConfig, url: URL): Promise<Authentication> {
  const cached = authentications.get(kc);
  const now = Date.now();
  if (cached && now - cached.at < AUTH_REUSE_MS) return cached;
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const auth = { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as Dispatcher | undefined, at: now };
  authentications.set(kc, auth);
  return auth;
}

/** The headers of every request and watch: the authentication's, JSON, our user agent. */
export function requestHeaders(auth: Authentication): Record<string, string> {
  return { ...auth.headers, Accept: CONTENT_TYPE.json, 'User-Agent': `external-llm-secrets/${VERSION}` };
}

/** The URL of path on the current cluster, with the query's set values (undefined and '' left out). */
export function apiUrl(kc: KubeConfig, path: string, query: Record<string, string | number | boolean | undefined> = {}): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  return url;
}

/** Sends one request and returns the parsed JSON answer; throws KubeApiError or KubeRequestTimeoutError. */
export async function kubeRequest<T>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const url = apiUrl(kc, req.path, req.query);

  const auth = await authenticate(kc, url);
  const headers = requestHeaders(auth);
  if (req.body !== undefined) headers['Content-Type'] = req.contentType ?? CONTENT_TYPE.json;

  // One deadline for the whole exchange, the answer's body included. AbortSignal.timeout would
  // reject with a DOMException whose numeric code (23) reads as an HTTP status elsewhere.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new KubeRequestTimeoutError(
    `${req.method} ${url.pathname}: no answer from the apiserver within ${req.timeoutMs} ms`,
  )), req.timeoutMs);
  timer.unref();
  try {
    const res = await request(url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      dispatcher: auth.dispatcher,
      signal: controller.signal,
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new KubeApiError(res.statusCode, text, req.method, url.pathname);
    return (text ? JSON.parse(text) : {}) as T;
  } catch (err) {
    if (controller.signal.aborted && controller.signal.reason instanceof KubeRequestTimeoutError) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
