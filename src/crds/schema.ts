// The one source of the ExternalLLMSecret CRD: deploy/crds is generated from crdManifest()
// (npm run gen:crds), and a test fails when the two drift.
import {
  CATEGORIES, CRD_NAME, GROUP, KIND, MERGE_FROM_ANNOTATION, MERGED_KEYS_ANNOTATION, PLURAL, SHORT_NAMES, SINGULAR, VERSION,
} from './constants.js';
import { DEFAULT_REFRESH_INTERVAL, DEFAULT_WARNING_WINDOW } from '../defaults.js';
import { DURATION_FORMAT } from '../sync/duration.js';
import { PROVIDER_NAMES } from '../sync/presets.js';

type Schema = Record<string, unknown>;

const DURATION_PATTERN = '^(0|([0-9]+(ms|s|m|h|d))+)$';
const ROLE_ARN_PATTERN = '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$';
const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';
const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
// A CEL rule instead of a pattern: a refused value gets a message with examples, not the regexp.
const duration = (description: string, extra: Schema = {}): Schema => str(description, {
  maxLength: 64, 'x-kubernetes-validations': [{ rule: `self.matches('${DURATION_PATTERN}')`, message: `must be ${DURATION_FORMAT}; not "5 minutes" or "1.5h"` }], ...extra,
});
const stringMap = (description: string): Schema => ({
  type: 'object', description, additionalProperties: { type: 'string' },
});

const source: Schema = {
  type: 'object',
  description: 'The AWS Secrets Manager secret to read.',
  required: ['secretId'],
  properties: {
    secretId: str('Name or full ARN of the secret in AWS Secrets Manager, for example prod/llm/openai.', {
      minLength: 1, maxLength: 2048,
    }),
    region: str('AWS region of the secret. Defaults to the operator\'s --default-region; taken from the ARN when secretId is one.', {
      pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$', maxLength: 32,
    }),
    versionStage: str('Version stage to read (AWSCURRENT when neither versionStage nor versionId is set).', {
      minLength: 1, maxLength: 256,
    }),
    versionId: str('Exact version id to read. Pins the value: rotation does not reach it.', {
      minLength: 32, maxLength: 64,
    }),
  },
  'x-kubernetes-validations': [
    { rule: '!(has(self.versionStage) && has(self.versionId))', message: 'set at most one of versionStage and versionId' },
    {
      rule: '!self.secretId.startsWith("arn:") || self.secretId.matches("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$")',
      message: 'secretId that starts with arn: must be a full Secrets Manager secret ARN',
    },
  ],
};

const REGION_PATTERN = '^[a-z]{2}(-[a-z]+)+-[0-9]+$';
/** Go durations (what CEL's duration() parses): 90s, 15m, 1h30m. */
const GO_DURATION_PATTERN = '^([0-9]+(s|m|h))+$';

const generate: Schema = {
  type: 'object',
  description: 'Mint a short-term key from the resource\'s AWS identity (spec.auth) instead of reading a stored one, and renew it before it expires. Nothing is stored in AWS. Set exactly one of bedrockApiKey and awsCredentials.',
  properties: {
    bedrockApiKey: {
      type: 'object',
      description: 'A short-term Amazon Bedrock API key (a presigned bedrock:CallWithBearerToken request, "bedrock-api-key-..."), minted locally by @aws/bedrock-token-generator from a dedicated session of the resource\'s role. JSON keys: AWS_BEARER_TOKEN_BEDROCK, AWS_REGION (use provider bedrock-api-key, or dataFrom).',
      properties: {
        region: str('Bedrock region the key is for. Defaults to the operator\'s --default-region.', { pattern: REGION_PATTERN, maxLength: 32 }),
        lifetime: str('How long the key is valid: 10s to 12h, default 12h. Never longer than the session that signs it (status says when it was cut short).', {
          pattern: GO_DURATION_PATTERN, maxLength: 16,
        }),
      },
      'x-kubernetes-validations': [
        { rule: '!has(self.lifetime) || (duration(self.lifetime) >= duration("10s") && duration(self.lifetime) <= duration("12h"))', message: 'lifetime must be between 10s and 12h (a Bedrock API key lasts at most 12 hours)' },
      ],
    },
    awsCredentials: {
      type: 'object',
      description: 'STS session credentials of a dedicated session of the resource\'s role. JSON keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_CREDENTIAL_EXPIRATION, AWS_REGION (use provider bedrock-iam, or dataFrom).',
      properties: {
        region: str('Region written as AWS_REGION. Defaults to the operator\'s --default-region.', { pattern: REGION_PATTERN, maxLength: 32 }),
        duration: str('Session duration: 15m to 12h, default 1h. A role assumed on top of another session (roleArn) is capped at 1h by STS.', {
          pattern: GO_DURATION_PATTERN, maxLength: 16,
        }),
      },
      'x-kubernetes-validations': [
        { rule: '!has(self.duration) || (duration(self.duration) >= duration("15m") && duration(self.duration) <= duration("12h"))', message: 'duration must be between 15m and 12h' },
      ],
    },
    renewAtPercent: {
      type: 'integer', minimum: 50, maximum: 95, default: 80,
      description: 'Renew the key when this percentage of its lifetime has passed (jittered earlier by up to a tenth of that), so consumers never hold an expired one.',
    },
  },
  'x-kubernetes-validations': [
    { rule: '[has(self.bedrockApiKey), has(self.awsCredentials)].filter(x, x).size() == 1', message: 'set exactly one of bedrockApiKey and awsCredentials' },
  ],
};

const auth: Schema = {
  type: 'object',
  description: 'How the operator reaches AWS for this resource. Empty: the operator\'s own identity (IRSA or EKS Pod Identity on EKS).',
  properties: {
    serviceAccountRef: {
      type: 'object',
      description: 'Use a ServiceAccount of this namespace: the operator requests a short-lived token for it and calls AssumeRoleWithWebIdentity with the role in its eks.amazonaws.com/role-arn annotation (or roleArn when set and no annotation).',
      required: ['name'],
      properties: {
        name: str('Name of the ServiceAccount in the resource\'s namespace.', { pattern: DNS_SUBDOMAIN_PATTERN, maxLength: 253 }),
        audience: str('Audience of the requested token.', { default: 'sts.amazonaws.com', minLength: 1, maxLength: 256 }),
      },
    },
    roleArn: str('IAM role to assume on top of the base identity (the operator\'s own, or the ServiceAccount\'s). Must be allowed for this namespace by the operator\'s role rules.', {
      pattern: ROLE_ARN_PATTERN,
    }),
    externalId: {
      type: 'object',
      description: 'External ID passed to AssumeRole. Either a literal value or a key of a Secret in the same namespace. Never shown in status, events or logs.',
      properties: {
        value: str('The external ID itself.', { minLength: 2, maxLength: 1224 }),
        secretKeyRef: {
          type: 'object',
          description: 'A key of a Secret in the resource\'s namespace holding the external ID.',
          required: ['name', 'key'],
          properties: {
            name: str('Secret name.', { pattern: DNS_SUBDOMAIN_PATTERN, maxLength: 253 }),
            key: str('Key in the Secret.', { pattern: SECRET_KEY_PATTERN, maxLength: 253 }),
          },
        },
      },
      'x-kubernetes-validations': [
        { rule: 'has(self.value) != has(self.secretKeyRef)', message: 'set exactly one of value and secretKeyRef' },
      ],
    },
    sessionName: str('Role session name. Defaults to one derived from the namespace and name.', {
      pattern: '^[A-Za-z0-9+=,.@_-]{2,64}$',
    }),
    sessionDuration: duration('Requested session duration (15m to 12h). Defaults to 1h.'),
  },
  'x-kubernetes-validations': [
    { rule: '!has(self.externalId) || has(self.roleArn)', message: 'externalId requires roleArn' },
    { rule: '!has(self.sessionName) || has(self.roleArn) || has(self.serviceAccountRef)', message: 'sessionName requires roleArn or serviceAccountRef' },
  ],
};

const dataItem: Schema = {
  type: 'object',
  required: ['secretKey'],
  properties: {
    secretKey: str('Key in the Kubernetes Secret (for envFrom, the environment variable name).', {
      pattern: SECRET_KEY_PATTERN, maxLength: 253,
    }),
    property: str('JSON property of the secret to read, with dots for nested objects (a.b.c). Without it the whole SecretString is the value. Numbers and booleans are written as their JSON text; objects and arrays are refused unless asJson is true.', {
      minLength: 1, maxLength: 1024,
    }),
    asJson: { type: 'boolean', description: 'Write an object or array value as its JSON text instead of refusing it.', default: false },
  },
};

const rewriteStep: Schema = {
  type: 'object',
  description: 'One rewrite of the key names. Set exactly one of prefix, regexp and transform.',
  properties: {
    prefix: str('Prepend this text to every key.', { minLength: 1, maxLength: 128, pattern: SECRET_KEY_PATTERN }),
    regexp: {
      type: 'object',
      description: 'Replace keys matching source (anchored: it must match the whole key) with target; $1.. refer to groups. Keys that do not match are kept.',
      required: ['source', 'target'],
      properties: {
        source: str('Regular expression; ^ and $ are implied.', { minLength: 1, maxLength: 256 }),
        target: str('Replacement; $1, $2, ... insert groups.', { maxLength: 256 }),
      },
    },
    transform: str('UpperSnakeCase turns api-key and apiKey into API_KEY, for environment variables.', {
      enum: ['UpperSnakeCase'],
    }),
  },
  'x-kubernetes-validations': [
    { rule: '[has(self.prefix), has(self.regexp), has(self.transform)].filter(x, x).size() == 1', message: 'set exactly one of prefix, regexp and transform' },
  ],
};

const target: Schema = {
  type: 'object',
  description: 'The Kubernetes Secret to write, always in the resource\'s namespace.',
  properties: {
    name: str('Secret name. Defaults to the resource\'s name.', { pattern: DNS_SUBDOMAIN_PATTERN, maxLength: 253 }),
    type: str('Secret type. Defaults to Opaque. kubernetes.io/service-account-token, bootstrap.kubernetes.io/ types (bootstrap tokens) and the other kubernetes.io/ types that the cluster acts on are refused.', {
      maxLength: 253, default: 'Opaque',
    }),
    labels: stringMap('Labels added to the Secret (creationPolicy Owner and Orphan; not allowed with Merge).'),
    annotations: stringMap('Annotations added to the Secret (creationPolicy Owner and Orphan; not allowed with Merge).'),
    creationPolicy: str(`Owner: the operator creates and owns the Secret. Orphan: creates it without an owner reference. Merge: writes its keys into an existing Opaque Secret it does not own, and only one that opts in with the annotation ${MERGE_FROM_ANNOTATION}: <this resource's name>; it never creates one, never overwrites a key it did not write, and sets no labels or annotations but ${MERGED_KEYS_ANNOTATION}.`, {
      enum: ['Owner', 'Orphan', 'Merge'], default: 'Owner',
    }),
    deletionPolicy: str('What happens to the Secret when this resource is deleted. Retain keeps it (without an owner reference); Delete removes it through the owner reference (creationPolicy Owner only).', {
      enum: ['Retain', 'Delete'], default: 'Retain',
    }),
  },
  'x-kubernetes-validations': [
    {
      rule: '!has(self.type) || self.type == "Opaque" || !self.type.startsWith("kubernetes.io/") || self.type in ["kubernetes.io/basic-auth", "kubernetes.io/ssh-auth", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson"]',
      message: 'type must be Opaque, a custom type, or one of kubernetes.io/basic-auth, ssh-auth, tls, dockerconfigjson (service-account tokens are refused)',
    },
    { rule: '!has(self.type) || !self.type.startsWith("bootstrap.kubernetes.io/")', message: 'bootstrap.kubernetes.io/ types are refused (bootstrap tokens let nodes join the cluster)' },
    { rule: '!has(self.creationPolicy) || self.creationPolicy != "Merge" || !has(self.type) || self.type == "Opaque"', message: 'creationPolicy Merge writes only into Opaque Secrets: leave type unset or Opaque' },
    { rule: '!has(self.creationPolicy) || self.creationPolicy != "Merge" || (!has(self.labels) && !has(self.annotations))', message: 'creationPolicy Merge does not set labels or annotations on a Secret it does not own: remove target.labels and target.annotations' },
    { rule: '!has(self.deletionPolicy) || self.deletionPolicy != "Delete" || !has(self.creationPolicy) || self.creationPolicy == "Owner"', message: 'deletionPolicy Delete requires creationPolicy Owner' },
    { rule: '!has(self.labels) || self.labels.all(k, !k.startsWith("llmsecrets.dev/") && k != "app.kubernetes.io/managed-by")', message: 'labels may not use the llmsecrets.dev/ prefix or app.kubernetes.io/managed-by' },
  ],
};

const spec: Schema = {
  type: 'object',
  description: 'What to read from AWS Secrets Manager (source) or mint (generate), and how to write it into a Kubernetes Secret.',
  properties: {
    source,
    generate,
    auth,
    provider: str('LLM provider preset: maps the usual JSON keys (api_key, access_key_id, ...) to the environment variables the vendor\'s SDK reads. Entries in data override it.', {
      enum: [...PROVIDER_NAMES],
    }),
    data: {
      type: 'array',
      description: 'Explicit mapping of JSON properties to Secret keys.',
      maxItems: 100,
      items: dataItem,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['secretKey'],
    },
    dataFrom: {
      type: 'object',
      description: 'Take every top-level key of the JSON secret, renamed by the rewrite steps in order.',
      properties: {
        rewrite: { type: 'array', maxItems: 10, items: rewriteStep, description: 'Rewrite steps, applied in order.' },
        asJson: { type: 'boolean', default: false, description: 'Write object and array values as their JSON text instead of refusing them.' },
      },
    },
    target,
    refreshInterval: duration('How often to re-read AWS (for example 30m, 1h, 1d). 0 syncs once. A random jitter of up to 10 percent spreads refreshes.', {
      default: DEFAULT_REFRESH_INTERVAL,
    }),
    rolloutRestartTargets: {
      type: 'array',
      description: 'Workloads in this namespace to restart when the synced data changes (not on the first sync).',
      maxItems: 20,
      items: {
        type: 'object',
        required: ['kind', 'name'],
        properties: {
          kind: str('Workload kind.', { enum: ['Deployment', 'StatefulSet', 'DaemonSet'] }),
          name: str('Workload name.', { pattern: DNS_SUBDOMAIN_PATTERN, maxLength: 253 }),
        },
      },
    },
    expiry: {
      type: 'object',
      description: 'Warn before the key expires. Set one of maxAge, property and tag.',
      properties: {
        maxAge: duration('The key expires this long after its AWS version was created (for example 30d).'),
        property: str('JSON property of the secret holding an RFC 3339 expiry time.', { minLength: 1, maxLength: 1024 }),
        tag: str('AWS tag of the secret holding an RFC 3339 expiry time.', { minLength: 1, maxLength: 128 }),
        warningWindow: duration(`How long before expiry the KeyExpiring condition is set. Defaults to ${DEFAULT_WARNING_WINDOW}.`),
      },
      'x-kubernetes-validations': [
        { rule: '[has(self.maxAge), has(self.property), has(self.tag)].filter(x, x).size() == 1', message: 'set exactly one of maxAge, property and tag' },
      ],
    },
  },
  'x-kubernetes-validations': [
    { rule: 'has(self.source) != has(self.generate)', message: 'set exactly one of source and generate' },
    { rule: 'has(self.data) || has(self.dataFrom) || has(self.provider)', message: 'set at least one of data, dataFrom and provider' },
    { rule: '!has(self.generate) || !has(self.expiry)', message: 'a generated key carries its own expiry (status.expiresAt): remove spec.expiry' },
    {
      rule: '!has(self.generate) || !has(self.provider) || (has(self.generate.bedrockApiKey) && self.provider == "bedrock-api-key") || (has(self.generate.awsCredentials) && self.provider == "bedrock-iam")',
      message: 'with generate.bedrockApiKey use provider bedrock-api-key, with generate.awsCredentials provider bedrock-iam (or data / dataFrom)',
    },
    { rule: '!has(self.generate) || !has(self.auth) || !has(self.auth.sessionDuration)', message: 'with generate the session lasts as long as the key: set generate.bedrockApiKey.lifetime or generate.awsCredentials.duration instead of auth.sessionDuration' },
  ],
};

const condition: Schema = {
  type: 'object',
  required: ['type', 'status', 'reason', 'lastTransitionTime'],
  properties: {
    type: str('Condition type: Ready, KeyExpiring, KeyExpired, RolloutRestart.'),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    reason: str('Machine-readable reason (see the README\'s reason table).'),
    message: str('Human-readable detail. Never contains a secret value.'),
    lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
    observedGeneration: { type: 'integer', format: 'int64', description: 'The generation this condition was computed for.' },
  },
};

const status: Schema = {
  type: 'object',
  description: 'Observed state. Never contains a secret value.',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', description: 'The spec generation last processed.' },
    conditions: {
      type: 'array', items: condition, description: 'Current conditions.',
      'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'],
    },
    secretName: str('Name of the Kubernetes Secret written.'),
    syncedVersionId: str('AWS version id of the data now in the Secret; for a generated key, gen-<issued>-<expires>-<hash of key id and times> (never the key).'),
    syncedVersionCreatedAt: str('When that AWS version was created (the key\'s age).', { format: 'date-time' }),
    syncedAt: str('When the Secret last matched the source.', { format: 'date-time' }),
    nextRefreshAt: str('When the next refresh is due.', { format: 'date-time' }),
    dataHash: str('HMAC-SHA256 of the written data, for drift checks.'),
    restartedForHash: str('The dataHash the rolloutRestartTargets were last restarted for; differs from dataHash while a restart is pending (it survives operator restarts).'),
    keys: {
      type: 'array', description: 'Which Secret key came from which JSON property (names only).',
      items: { type: 'object', properties: { secretKey: { type: 'string' }, property: { type: 'string' } } },
    },
    forceSyncToken: str('The last llmsecrets.dev/force-sync annotation value acted on.'),
    expiresAt: str('When the key expires: from spec.expiry, or the generated key\'s own expiry (written when a new key is minted).', { format: 'date-time' }),
  },
};

export function crdManifest(): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'external-llm-secrets', 'app.kubernetes.io/part-of': 'external-llm-secrets' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES, categories: CATEGORIES },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
          { name: 'Secret', type: 'string', jsonPath: '.status.secretName' },
          { name: 'Last Sync', type: 'date', jsonPath: '.status.syncedAt' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'ExternalLLMSecret syncs an LLM API key (or any JSON secret) from AWS Secrets Manager into a Kubernetes Secret and keeps it in step.',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string', description: 'APIVersion of this object.' },
              kind: { type: 'string', description: 'Kind of this object.' },
              metadata: { type: 'object' },
              spec,
              status,
            },
          },
        },
      }],
    },
  };
}
