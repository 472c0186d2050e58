// A loopback proxy in front of moto that records every AWS call (so tests can count what reached
// "AWS"), and stands in for the one STS path moto cannot serve with IAM enforcement on:
// AssumeRoleWithWebIdentity is unsigned, and moto then fails with a KeyError. The guard checks
// the token's subject and audience as the role's OIDC trust policy would, then mints the role's
// real moto credentials with an admin AssumeRole, so Secrets Manager calls made with them are
// authorised by moto's own policy evaluation. AssumeRole itself (trust policy, sts:ExternalId
// condition) is evaluated by moto. Everything else passes through untouched.
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { createServer, request, type Server } from 'node:http';
import type { AwsCredentials } from './moto.js';
import { freePort } from './proc.js';

export interface RecordedCall {
  service: 'sts' | 'secretsmanager' | 'other';
  action: string;
  params: Record<string, string>;
}

export interface TrustRule {
  externalId?: string;
  /** Required `sub` claim of the web identity token. */
  subject?: string;
  audience?: string;
}

export interface StsGuard {
  endpoint: string;
  calls: RecordedCall[];
  trust: Map<string, TrustRule>;
  count(filter: { service?: string; action?: string; roleArn?: string }): number;
  stop(): Promise<void>;
}

const denied = (message: string) =>
  `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${message}</Message></Error><RequestId>guard</RequestId></ErrorResponse>`;

function jwtClaims(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function check(call: RecordedCall, trust: Map<string, TrustRule>): string | undefined {
  const rule = trust.get(call.params.RoleArn ?? '');
  if (!rule) return undefined;
  if (call.action === 'AssumeRole' && rule.externalId !== undefined && call.params.ExternalId !== rule.externalId) {
    return 'User is not authorized to perform: sts:AssumeRole';
  }
  if (call.action === 'AssumeRoleWithWebIdentity') {
    const claims = jwtClaims(call.params.WebIdentityToken ?? '');
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (rule.subject !== undefined && claims.sub !== rule.subject) return 'Not authorized to perform sts:AssumeRoleWithWebIdentity';
    if (rule.audience !== undefined && !aud.includes(rule.audience)) return 'Incorrect token audience';
  }
  return undefined;
}

function webIdentityAnswer(c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date }, sub: string, roleArn: string): string {
  return `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>`
    + `<Credentials><AccessKeyId>${c.AccessKeyId}</AccessKeyId><SecretAccessKey>${c.SecretAccessKey}</SecretAccessKey><SessionToken>${c.SessionToken}</SessionToken><Expiration>${c.Expiration?.toISOString()}</Expiration></Credentials>`
    + `<SubjectFromWebIdentityToken>${sub}</SubjectFromWebIdentityToken><AssumedRoleUser><Arn>${roleArn}</Arn><AssumedRoleId>guard</AssumedRoleId></AssumedRoleUser>`
    + `</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>guard</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`;
}

export async function startStsGuard(upstream: string, admin?: AwsCredentials): Promise<StsGuard> {
  const mint = admin ? new STSClient({ region: 'us-east-1', endpoint: upstream, credentials: admin }) : undefined;
  const target = new URL(upstream);
  const calls: RecordedCall[] = [];
  const trust = new Map<string, TrustRule>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = String(req.headers['x-amz-target'] ?? '');
      let call: RecordedCall;
      if (amzTarget.startsWith('secretsmanager.')) {
        call = { service: 'secretsmanager', action: amzTarget.slice('secretsmanager.'.length), params: {} };
      } else {
        const form = new URLSearchParams(body.toString('utf8'));
        const action = form.get('Action');
        call = action ? { service: 'sts', action, params: Object.fromEntries(form) } : { service: 'other', action: req.url ?? '', params: {} };
      }
      if (!req.url?.startsWith('/moto-api')) calls.push(call);
      const refusal = call.service === 'sts' ? check(call, trust) : undefined;
      if (refusal) {
        res.writeHead(403, { 'content-type': 'text/xml' }).end(denied(refusal));
        return;
      }
      if (call.action === 'AssumeRoleWithWebIdentity' && mint) {
        const roleArn = call.params.RoleArn ?? '';
        const sub = String(jwtClaims(call.params.WebIdentityToken ?? '').sub ?? '');
        mint.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: call.params.RoleSessionName ?? 'web', DurationSeconds: 3600 })).then(
          (out) => res.writeHead(200, { 'content-type': 'text/xml' }).end(webIdentityAnswer(out.Credentials ?? {}, sub, roleArn)),
          (err: Error) => res.writeHead(403, { 'content-type': 'text/xml' }).end(denied(err.name)),
        );
        return;
      }
      const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', (e) => res.writeHead(502).end(String(e)));
      forward.end(body);
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    trust,
    count: (f) => calls.filter((c) => (!f.service || c.service === f.service) && (!f.action || c.action === f.action) && (!f.roleArn || c.params.RoleArn === f.roleArn)).length,
    stop: () => new Promise<void>((resolve) => { mint?.destroy(); server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
