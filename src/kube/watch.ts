// A Kubernetes watch read with undici's request(), the path every other call takes (http.ts).
// client-node's Watch reads the same stream through fetch, a WHATWG stream turned back into a
// Node stream, and readline; in a 1,000-resource cold start (2,000 events) that plumbing was
// a sixth of the operator's CPU. The contract is Watch.watch's, so the informer can take either:
// resolves with an AbortController once the stream is open (throws if it cannot be opened: an
// HTTP status other than 200 comes as KubeApiError with its code); onEvent(type, object) for each
// event line; done(err?) exactly once, when the server ends the stream, it fails, or nothing
// arrived for inactivityMs (then a TimeoutError, which the informer resumes from quietly).
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { request } from 'undici';
import { apiUrl, authenticate, KubeApiError, requestHeaders } from './http.js';

/** client-node's Watch waits as long for data before it gives up on a stream. */
export const WATCH_INACTIVITY_MS = 30_000;

export class WatchTimeoutError extends Error {
  override name = 'TimeoutError';
}

export async function watchStream<T>(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | boolean | number | undefined>,
  onEvent: (type: string, object: T) => void,
  done: (err: unknown) => void,
  inactivityMs = WATCH_INACTIVITY_MS,
): Promise<AbortController> {
  const url = apiUrl(kc, path, { ...query, watch: true });

  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const finish = (err: unknown) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    const timedOut = controller.signal.aborted && controller.signal.reason instanceof WatchTimeoutError;
    if (!controller.signal.aborted) controller.abort();
    done(timedOut ? controller.signal.reason : err);
  };
  const resetTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new WatchTimeoutError(`no data on the watch of ${url.pathname} for ${inactivityMs} ms`)), inactivityMs);
    timer.unref();
  };

  const auth = await authenticate(kc, url);
  resetTimer(); // covers the connection too
  let res;
  try {
    res = await request(url, {
      method: 'GET',
      headers: requestHeaders(auth),
      dispatcher: auth.dispatcher,
      signal: controller.signal,
    });
  } catch (err) {
    clearTimeout(timer);
    finished = true;
    throw controller.signal.reason instanceof WatchTimeoutError ? controller.signal.reason : err;
  }
  if (res.statusCode !== 200) {
    clearTimeout(timer);
    finished = true;
    const text = await res.body.text().catch(() => '');
    throw new KubeApiError(res.statusCode, text, 'GET', url.pathname);
  }

  resetTimer();
  const body = res.body;
  body.setEncoding('utf8');
  let pending = '';
  body.on('data', (chunk: string) => {
    resetTimer();
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl);
      start = nl + 1;
      if (line.trim() === '') continue;
      let event: { type?: string; object?: T };
      try { event = JSON.parse(line) as typeof event; } catch { continue; } // as client-node: a line that is not JSON is skipped
      if (event.type) onEvent(event.type, event.object as T);
    }
    pending = pending.slice(start);
  });
  body.on('end', () => finish(null));
  body.on('close', () => finish(null));
  body.on('error', (err) => finish(err));
  return controller;
}
