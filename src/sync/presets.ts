// LLM provider presets: which Secret keys each vendor's SDK reads, and which JSON keys people
// usually store the values under. Source: shared/design/llm-env-vars.md (official SDKs, LiteLLM).
// The first candidate present in the JSON wins; `data` entries in the spec override a preset.

export interface PresetOutput {
  /** Key written to the Kubernetes Secret (the environment variable name). */
  secretKey: string;
  /** JSON properties tried in order. */
  candidates: readonly string[];
  required: boolean;
}

const API_KEY = ['api_key', 'apiKey', 'key', 'token'] as const;
const REGION = ['region', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'aws_region'] as const;

const required = (secretKey: string, ...candidates: string[]): PresetOutput => ({ secretKey, candidates, required: true });
const optional = (secretKey: string, ...candidates: string[]): PresetOutput => ({ secretKey, candidates, required: false });

export const PRESETS = {
  openai: [
    required('OPENAI_API_KEY', 'OPENAI_API_KEY', ...API_KEY),
    optional('OPENAI_ORG_ID', 'OPENAI_ORG_ID', 'OPENAI_ORGANIZATION', 'organization', 'org_id', 'organization_id'),
    optional('OPENAI_PROJECT_ID', 'OPENAI_PROJECT_ID', 'project', 'project_id'),
    optional('OPENAI_BASE_URL', 'OPENAI_BASE_URL', 'base_url', 'api_base'),
  ],
  anthropic: [
    required('ANTHROPIC_API_KEY', 'ANTHROPIC_API_KEY', ...API_KEY),
    optional('ANTHROPIC_BASE_URL', 'ANTHROPIC_BASE_URL', 'base_url', 'api_base'),
  ],
  // The official SDKs read CO_API_KEY; LiteLLM and the Python fallback read COHERE_API_KEY.
  cohere: [
    required('CO_API_KEY', 'CO_API_KEY', 'COHERE_API_KEY', ...API_KEY),
    required('COHERE_API_KEY', 'COHERE_API_KEY', 'CO_API_KEY', ...API_KEY),
    optional('CO_API_URL', 'CO_API_URL', 'base_url', 'api_base'),
  ],
  // The official SDK and LiteLLM disagree on names: write both sets.
  'azure-openai': [
    required('AZURE_OPENAI_API_KEY', 'AZURE_OPENAI_API_KEY', 'AZURE_API_KEY', ...API_KEY),
    required('AZURE_API_KEY', 'AZURE_API_KEY', 'AZURE_OPENAI_API_KEY', ...API_KEY),
    optional('AZURE_OPENAI_ENDPOINT', 'AZURE_OPENAI_ENDPOINT', 'AZURE_API_BASE', 'endpoint', 'api_base', 'base_url'),
    optional('AZURE_API_BASE', 'AZURE_API_BASE', 'AZURE_OPENAI_ENDPOINT', 'endpoint', 'api_base', 'base_url'),
    optional('OPENAI_API_VERSION', 'OPENAI_API_VERSION', 'AZURE_API_VERSION', 'api_version'),
    optional('AZURE_API_VERSION', 'AZURE_API_VERSION', 'OPENAI_API_VERSION', 'api_version'),
  ],
  // Bedrock: boto3 reads AWS_DEFAULT_REGION, the JS SDK v3 reads AWS_REGION: write both.
  'bedrock-api-key': [
    required('AWS_BEARER_TOKEN_BEDROCK', 'AWS_BEARER_TOKEN_BEDROCK', 'bearer_token', ...API_KEY),
    optional('AWS_REGION', ...REGION),
    optional('AWS_DEFAULT_REGION', ...REGION),
  ],
  'bedrock-iam': [
    required('AWS_ACCESS_KEY_ID', 'AWS_ACCESS_KEY_ID', 'access_key_id', 'aws_access_key_id', 'accessKeyId'),
    required('AWS_SECRET_ACCESS_KEY', 'AWS_SECRET_ACCESS_KEY', 'secret_access_key', 'aws_secret_access_key', 'secretAccessKey'),
    optional('AWS_SESSION_TOKEN', 'AWS_SESSION_TOKEN', 'session_token', 'aws_session_token', 'sessionToken'),
    optional('AWS_REGION', ...REGION),
    optional('AWS_DEFAULT_REGION', ...REGION),
  ],
  mistral: [
    required('MISTRAL_API_KEY', 'MISTRAL_API_KEY', ...API_KEY),
  ],
  // google-genai prefers GOOGLE_API_KEY over GEMINI_API_KEY: writing only one is a trap.
  'google-gemini': [
    required('GOOGLE_API_KEY', 'GOOGLE_API_KEY', 'GEMINI_API_KEY', ...API_KEY),
    required('GEMINI_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_API_KEY', ...API_KEY),
  ],
  groq: [
    required('GROQ_API_KEY', 'GROQ_API_KEY', ...API_KEY),
    optional('GROQ_BASE_URL', 'GROQ_BASE_URL', 'base_url', 'api_base'),
  ],
  xai: [
    required('XAI_API_KEY', 'XAI_API_KEY', ...API_KEY),
  ],
  // LiteLLM's proxy: its own keys, and the provider keys its config.yaml reads as
  // os.environ/<NAME> (examples/litellm.yaml). Stored the way LiteLLM's own secret-manager
  // integration stores them: one JSON object, the variable names as keys.
  litellm: [
    required('LITELLM_MASTER_KEY', 'LITELLM_MASTER_KEY', 'master_key', 'masterKey'),
    optional('LITELLM_SALT_KEY', 'LITELLM_SALT_KEY', 'salt_key', 'saltKey'),
    optional('DATABASE_URL', 'DATABASE_URL', 'database_url', 'databaseUrl'),
    optional('REDIS_PASSWORD', 'REDIS_PASSWORD', 'redis_password'),
    optional('OPENAI_API_KEY', 'OPENAI_API_KEY', 'openai_api_key'),
    optional('ANTHROPIC_API_KEY', 'ANTHROPIC_API_KEY', 'anthropic_api_key'),
    optional('AZURE_API_KEY', 'AZURE_API_KEY', 'AZURE_OPENAI_API_KEY', 'azure_api_key'),
    optional('AZURE_API_BASE', 'AZURE_API_BASE', 'AZURE_OPENAI_ENDPOINT', 'azure_api_base'),
    optional('AZURE_API_VERSION', 'AZURE_API_VERSION', 'OPENAI_API_VERSION', 'azure_api_version'),
    optional('COHERE_API_KEY', 'COHERE_API_KEY', 'CO_API_KEY', 'cohere_api_key'),
    optional('MISTRAL_API_KEY', 'MISTRAL_API_KEY', 'mistral_api_key'),
    optional('GEMINI_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_API_KEY', 'gemini_api_key'),
    optional('GROQ_API_KEY', 'GROQ_API_KEY', 'groq_api_key'),
    optional('XAI_API_KEY', 'XAI_API_KEY', 'xai_api_key'),
    optional('AWS_BEARER_TOKEN_BEDROCK', 'AWS_BEARER_TOKEN_BEDROCK', 'bedrock_api_key'),
  ],
} as const satisfies Record<string, readonly PresetOutput[]>;

export type PresetName = keyof typeof PRESETS;
export const PROVIDER_NAMES = Object.keys(PRESETS) as PresetName[];

/**
 * Presets whose only required value is one API key (written under one or more names). Their
 * secret may be that key as a plain string (`dev/llm/openai` = `sk-proj-...`), the most common
 * way one key is stored; the JSON forms work as well.
 */
export const PLAIN_STRING_PRESETS: ReadonlySet<string> = new Set<PresetName>([
  'openai', 'anthropic', 'cohere', 'mistral', 'groq', 'xai', 'google-gemini', 'bedrock-api-key',
]);

/**
 * What a preset reads, for messages: each required value with the JSON keys it is looked up
 * under, and an example object. Outputs that take the same value (CO_API_KEY and COHERE_API_KEY)
 * are named together.
 */
export function describePreset(name: string): string {
  const outputs = (PRESETS as Record<string, readonly PresetOutput[]>)[name] ?? [];
  const groups = new Map<string, PresetOutput[]>();
  for (const o of outputs.filter((x) => x.required)) {
    const id = [...o.candidates].sort().join(',');
    groups.set(id, [...(groups.get(id) ?? []), o]);
  }
  const needed = [...groups.values()].map((g) => `${g.map((o) => o.secretKey).join('/')} (JSON key ${g[0]!.candidates.slice(0, 4).join(', ')}${g[0]!.candidates.length > 4 ? ', ...' : ''})`);
  const example = [...groups.values()].map((g) => `"${g[0]!.candidates[0]}": "..."`).join(', ');
  return `preset ${name} reads a JSON object with ${needed.join(' and ')}, for example {${example}}`;
}
