// TypeScript view of the ExternalLLMSecret API. The OpenAPI schema in ./schema.ts is the
// source the apiserver enforces; these types mirror it for the controller.
import type { API_VERSION, KIND } from './constants.js';

export type ProviderPreset =
  | 'openai'
  | 'anthropic'
  | 'cohere'
  | 'azure-openai'
  | 'bedrock-api-key'
  | 'bedrock-iam'
  | 'mistral'
  | 'google-gemini'
  | 'groq'
  | 'xai'
  | 'litellm';

export interface SourceSpec {
  secretId: string;
  region?: string;
  versionStage?: string;
  versionId?: string;
}

/** A short-term Bedrock API key (AWS_BEARER_TOKEN_BEDROCK), minted locally from the resource's role session. */
export interface BedrockApiKeySpec {
  region?: string;
  /** Default and maximum 12h; never longer than the session that signs it. */
  lifetime?: string;
}

/** STS session credentials of the resource's role (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). */
export interface AwsCredentialsSpec {
  region?: string;
  /** Default 1h; 15m to 1h on a chained role. */
  duration?: string;
}

/** Keys minted by the operator instead of read from a store: exactly one kind. */
export interface GenerateSpec {
  bedrockApiKey?: BedrockApiKeySpec;
  awsCredentials?: AwsCredentialsSpec;
  /** Renew when this percentage of the lifetime has passed (jittered earlier by up to a tenth). Default 80. */
  renewAtPercent?: number;
}

export interface SecretKeySelector {
  name: string;
  key: string;
}

export interface AuthSpec {
  serviceAccountRef?: { name: string; audience?: string };
  roleArn?: string;
  externalId?: { value?: string; secretKeyRef?: SecretKeySelector };
  sessionName?: string;
  sessionDuration?: string;
}

export interface DataMapping {
  secretKey: string;
  property?: string;
  /** Write an object or array value as its JSON text instead of refusing it. */
  asJson?: boolean;
}

export type RewriteStep =
  | { prefix: string; regexp?: never; transform?: never }
  | { regexp: { source: string; target: string }; prefix?: never; transform?: never }
  | { transform: 'UpperSnakeCase'; prefix?: never; regexp?: never };

export interface DataFromSpec {
  rewrite?: RewriteStep[];
  /** Write object and array values as JSON text instead of refusing them. */
  asJson?: boolean;
}

export type CreationPolicy = 'Owner' | 'Orphan' | 'Merge';
export type DeletionPolicy = 'Retain' | 'Delete';

export interface TargetSpec {
  name?: string;
  type?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationPolicy?: CreationPolicy;
  deletionPolicy?: DeletionPolicy;
}

export interface RolloutTarget {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  name: string;
}

export interface ExpirySpec {
  maxAge?: string;
  property?: string;
  tag?: string;
  warningWindow?: string;
}

export interface ExternalLLMSecretSpec {
  /** Exactly one of source and generate. */
  source?: SourceSpec;
  generate?: GenerateSpec;
  auth?: AuthSpec;
  provider?: ProviderPreset;
  data?: DataMapping[];
  dataFrom?: DataFromSpec;
  target?: TargetSpec;
  refreshInterval?: string;
  rolloutRestartTargets?: RolloutTarget[];
  expiry?: ExpirySpec;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface KeyMapping {
  secretKey: string;
  /** The JSON property the value came from; absent for the whole SecretString. */
  property?: string;
}

export interface ExternalLLMSecretStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  secretName?: string;
  syncedVersionId?: string;
  syncedVersionCreatedAt?: string;
  syncedAt?: string;
  nextRefreshAt?: string;
  dataHash?: string;
  /** The dataHash the rolloutRestartTargets were last restarted for; differs from dataHash while a restart is pending. */
  restartedForHash?: string;
  keys?: KeyMapping[];
  forceSyncToken?: string;
  expiresAt?: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: Date;
  finalizers?: string[];
  creationTimestamp?: Date;
}

export interface ExternalLLMSecret {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: ExternalLLMSecretSpec;
  status?: ExternalLLMSecretStatus;
}
