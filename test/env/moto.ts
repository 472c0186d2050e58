// A local AWS (moto_server) for Secrets Manager, IAM and STS, plus the few AWS calls tests need.
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, DeleteSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startMotoProxy } from './moto-proxy.js';
import { freePort, newLogsDir, startProcess, waitFor } from './proc.js';
import { toolPaths } from './tools.js';

export const MOTO_ACCOUNT_ID = '123456789012';
export const MOTO_REGION = 'us-east-1';

export interface AwsCredentials { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

/** moto accepts any credentials while IAM is not enforced. */
export const TEST_CREDENTIALS: AwsCredentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** An endpoint URL, or an endpoint plus the credentials to call it with (a Moto is one). */
export type AwsTarget = string | { endpoint: string; credentials?: AwsCredentials };

export interface Moto {
  endpoint: string;
  /** Credentials allowed to do anything: the test ones, or a bootstrapped admin user under enforceIam. */
  credentials: AwsCredentials;
  logPath: string;
  /** Wipes all state (secrets, users...); under enforceIam the admin user is re-created. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

function resolveTarget(target: AwsTarget, creds?: AwsCredentials): { endpoint: string; credentials: AwsCredentials } {
  if (typeof target === 'string') return { endpoint: target, credentials: creds ?? TEST_CREDENTIALS };
  return { endpoint: target.endpoint, credentials: creds ?? target.credentials ?? TEST_CREDENTIALS };
}

export function smClient(target: AwsTarget, creds?: AwsCredentials): SecretsManagerClient {
  const { endpoint, credentials } = resolveTarget(target, creds);
  return new SecretsManagerClient({ endpoint, region: MOTO_REGION, credentials, maxAttempts: 1 });
}

export function iamClient(target: AwsTarget, creds?: AwsCredentials): IAMClient {
  const { endpoint, credentials } = resolveTarget(target, creds);
  return new IAMClient({ endpoint, region: MOTO_REGION, credentials, maxAttempts: 1 });
}

async function motoApi(endpoint: string, path: string, body?: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/${path}`, { method: 'POST', body: body ?? null });
  if (!res.ok) throw new Error(`moto ${path}: HTTP ${res.status} ${await res.text()}`);
}

/** From the next request on, every AWS call must be signed by an IAM principal whose policy allows it. */
export const enableIamEnforcement = (endpoint: string) => motoApi(endpoint, 'reset-auth', '0');
export const disableIamEnforcement = (endpoint: string) => motoApi(endpoint, 'reset-auth', 'inf');

type SecretValue = string | object | Uint8Array;
const secretInput = (value: SecretValue) =>
  value instanceof Uint8Array ? { SecretBinary: value }
    : { SecretString: typeof value === 'string' ? value : JSON.stringify(value) };

/** Creates a secret; returns its ARN. Objects are stored as JSON strings. */
export async function createSecret(target: AwsTarget, name: string, value: SecretValue): Promise<string> {
  const out = await smClient(target).send(new CreateSecretCommand({ Name: name, ...secretInput(value) }));
  return out.ARN!;
}

/** Stores a new version (becomes AWSCURRENT); returns its VersionId. */
export async function putSecretValue(target: AwsTarget, name: string, value: SecretValue): Promise<string> {
  const out = await smClient(target).send(new PutSecretValueCommand({ SecretId: name, ...secretInput(value) }));
  return out.VersionId!;
}

export async function deleteSecret(target: AwsTarget, name: string): Promise<void> {
  await smClient(target).send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
}

/** Creates an IAM user (with an inline policy when given) and returns a fresh access key for it. */
export async function createIamUser(target: AwsTarget, name: string, policyDocument?: object): Promise<AwsCredentials> {
  const iam = iamClient(target);
  await iam.send(new CreateUserCommand({ UserName: name }));
  if (policyDocument) {
    await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: `${name}-policy`, PolicyDocument: JSON.stringify(policyDocument) }));
  }
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  return { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! };
}

/** Creates a role with the given trust policy (and inline permission policy); returns its ARN. */
export async function createRole(target: AwsTarget, name: string, trustPolicy: object, permissionPolicy?: object): Promise<string> {
  const iam = iamClient(target);
  const { Role } = await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: JSON.stringify(trustPolicy) }));
  if (permissionPolicy) {
    await iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: `${name}-policy`, PolicyDocument: JSON.stringify(permissionPolicy) }));
  }
  return Role!.Arn!;
}

export const allowAllPolicy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

// With enforcement on, only IAM principals can call moto, so we make one that may do anything.
async function bootstrapAdmin(endpoint: string): Promise<AwsCredentials> {
  await disableIamEnforcement(endpoint);
  const credentials = await createIamUser(endpoint, 'els-test-admin', allowAllPolicy);
  await enableIamEnforcement(endpoint);
  return credentials;
}

/**
 * Starts moto_server on a free loopback port. With `enforceIam`, requests must be signed by IAM
 * users/roles whose policies allow the action; `moto.credentials` then belongs to an admin user.
 */
export async function startMoto(opts: { enforceIam?: boolean; logsDir?: string } = {}): Promise<Moto> {
  const [port, motoPort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${port}`;
  const logsDir = opts.logsDir ?? newLogsDir();
  const name = opts.enforceIam ? `moto-iam-${port}` : 'moto';
  const proc = startProcess(name, toolPaths.motoServer, ['-H', '127.0.0.1', '-p', String(motoPort)], {
    logsDir,
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: 'inf' },
  });
  // Clients talk to moto through a proxy that turns its XML auth errors into AWS's JSON ones.
  const proxy = await startMotoProxy(port, `http://127.0.0.1:${motoPort}`);
  const stop = async () => {
    await new Promise((resolveClose) => { proxy.close(resolveClose); proxy.closeAllConnections(); });
    await proc.stop();
  };
  try {
    await waitFor('moto_server', async () => ((await fetch(`${endpoint}/moto-api/data.json`)).ok ? true : undefined),
      { timeoutMs: 60_000, proc });
    const moto: Moto = {
      endpoint,
      credentials: opts.enforceIam ? await bootstrapAdmin(endpoint) : TEST_CREDENTIALS,
      logPath: proc.logPath,
      async reset() {
        await motoApi(endpoint, 'reset');
        if (opts.enforceIam) moto.credentials = await bootstrapAdmin(endpoint);
      },
      stop,
    };
    return moto;
  } catch (error) {
    await stop();
    throw error;
  }
}
