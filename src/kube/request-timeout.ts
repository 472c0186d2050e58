// A deadline on every Kubernetes API request. @kubernetes/client-node 2.x sends each generated
// API call through undici's fetch with the AbortSignal of its RequestContext, and a Configuration
// carries middleware that sees that RequestContext before it is sent: this middleware gives each
// request its own signal, which also covers reading the answer's body. Watches are untouched: Watch
// makes its own fetch with its own signal and inactivity timer, not through this Configuration.
import {
  createConfiguration, Observable, ServerConfiguration, setHeaderMiddleware,
  type ApiConstructor, type ApiType, type ConfigurationOptions, type KubeConfig, type ObservableMiddleware,
} from '@kubernetes/client-node';
import { VERSION } from '../version.js';

/** A request that got no (complete) answer in time. Carries no HTTP code, so callers retry it. */
export class KubeRequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** In the Observable form client-node wants both in a Configuration and in per-call options. */
export function requestTimeoutMiddleware(timeoutMs: number): ObservableMiddleware {
  return {
    pre: (context) => {
      const url = new URL(context.getUrl());
      const controller = new AbortController();
      // AbortSignal.timeout would reject with a DOMException whose numeric `code` (23) reads as an
      // HTTP status to the rest of the operator; this error names the request instead (path only:
      // the query holds selectors, never data).
      const timer = setTimeout(() => controller.abort(new KubeRequestTimeoutError(
        `${context.getHttpMethod()} ${url.pathname}: no answer from the apiserver within ${timeoutMs} ms`,
      )), timeoutMs);
      timer.unref();
      context.setSignal(controller.signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

/**
 * Per-call options with a shorter deadline than the client's. Call-time middleware runs after the
 * Configuration's, so its signal is the one the request is sent with.
 */
export function withRequestTimeout(timeoutMs: number): ConfigurationOptions {
  return { middleware: [requestTimeoutMiddleware(timeoutMs)], middlewareMergeStrategy: 'append' };
}

/** KubeConfig.makeApiClient with the deadline added to its middleware. */
export function makeApiClient<T extends ApiType>(kubeConfig: KubeConfig, api: ApiConstructor<T>, timeoutMs: number): T {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new api(createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    middleware: [setHeaderMiddleware('User-Agent', `external-llm-secrets/${VERSION}`), requestTimeoutMiddleware(timeoutMs)],
  }));
}
