// Reads one secret version from AWS Secrets Manager and turns the SDK's answer (or error) into
// the operator's own types.
import { DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SourceSecret } from '../sync/source.js';
import { mapSecretsManagerError } from './errors.js';

export interface SecretVersionRef {
  secretId: string;
  versionId?: string;
  versionStage?: string;
}

export async function getSecretValue(client: SecretsManagerClient, ref: SecretVersionRef): Promise<SourceSecret> {
  try {
    const out = await client.send(new GetSecretValueCommand({
      SecretId: ref.secretId,
      ...(ref.versionId ? { VersionId: ref.versionId } : {}),
      ...(ref.versionStage ? { VersionStage: ref.versionStage } : {}),
    }));
    return {
      secretId: ref.secretId,
      arn: out.ARN,
      versionId: out.VersionId ?? '',
      versionStages: out.VersionStages,
      createdDate: out.CreatedDate,
      secretString: out.SecretString,
      secretBinary: out.SecretBinary,
    };
  } catch (err) {
    throw mapSecretsManagerError(err, ref.secretId);
  }
}

/** Region from a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), if it is one. */
export function regionOfArn(secretId: string): string | undefined {
  const m = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(secretId);
  return m?.[1];
}

/** The secret's tags (for spec.expiry.tag). */
export async function describeTags(client: SecretsManagerClient, secretId: string): Promise<Record<string, string>> {
  try {
    const out = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  } catch (err) {
    throw mapSecretsManagerError(err, secretId, 'DescribeSecret');
  }
}
