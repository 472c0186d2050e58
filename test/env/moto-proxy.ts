// moto answers auth failures on JSON-protocol services (Secrets Manager, STS JSON...) with the XML
// error body of query-protocol services, which AWS SDK v3 cannot parse (it throws a SyntaxError).
// Real AWS answers {"__type":"AccessDeniedException"}. This loopback proxy rewrites exactly those
// responses so code under test sees the same errors it would see against AWS.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// moto's XML codes -> the JSON error types AWS returns for them.
const JSON_ERROR_TYPES: Record<string, string> = {
  AccessDenied: 'AccessDeniedException',
  InvalidClientTokenId: 'UnrecognizedClientException',
  SignatureDoesNotMatch: 'InvalidSignatureException',
};

function xmlField(xml: string, field: string): string | undefined {
  return new RegExp(`<${field}>([^<]*)</${field}>`).exec(xml)?.[1];
}

function send(res: ServerResponse, upstream: IncomingMessage, body: Buffer, isJsonRequest: boolean): void {
  const text = body.toString('utf8');
  const code = isJsonRequest && (upstream.statusCode ?? 0) >= 400 && text.trimStart().startsWith('<') ? xmlField(text, 'Code') : undefined;
  if (!code) {
    res.writeHead(upstream.statusCode ?? 502, upstream.headers);
    res.end(body);
    return;
  }
  const type = JSON_ERROR_TYPES[code] ?? code;
  const json = JSON.stringify({ __type: type, message: xmlField(text, 'Message') ?? code });
  res.writeHead(upstream.statusCode!, {
    'content-type': 'application/x-amz-json-1.1',
    'x-amzn-errortype': type,
    'x-amzn-requestid': String(upstream.headers['x-amzn-requestid'] ?? ''),
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

/** Listens on 127.0.0.1:`port` and forwards everything to `target` (http://host:port). */
export function startMotoProxy(port: number, target: string): Promise<Server> {
  const upstreamUrl = new URL(target);
  const server = createServer((req, res) => {
    const isJsonRequest = req.headers['x-amz-target'] !== undefined;
    const forward = request({ host: upstreamUrl.hostname, port: upstreamUrl.port, method: req.method, path: req.url, headers: req.headers }, (upstream) => {
      const chunks: Buffer[] = [];
      upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
      upstream.on('end', () => send(res, upstream, Buffer.concat(chunks), isJsonRequest));
    });
    forward.on('error', (error) => { res.writeHead(502); res.end(String(error)); });
    req.pipe(forward);
  });
  return new Promise((resolveServer, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => resolveServer(server));
  });
}
