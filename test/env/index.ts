// The test environment's interface, for integration tests, the benchmark and the demo.
export { adminRequest, startCluster, SERVICE_ACCOUNT_ISSUER, type AdminTls, type Cluster } from './cluster.js';
export { getTestEnv, startTestEnv, TEST_ENV_VARIABLE, type RunningTestEnv, type TestEnv } from './environment.js';
export {
  adminKubeConfig, apiserverRequestCount, applyCrd, applyCrds, createTestNamespace, deleteTestNamespace, isApiError,
  kubeConfigForServiceAccount, serviceAccountToken, WRITE_VERBS, type RequestFilter,
} from './kube.js';
export {
  allowAllPolicy, createIamUser, createRole, createSecret, deleteSecret, disableIamEnforcement, enableIamEnforcement,
  iamClient, MOTO_ACCOUNT_ID, MOTO_REGION, putSecretValue, smClient, startMoto, TEST_CREDENTIALS,
  type AwsCredentials, type AwsTarget, type Moto,
} from './moto.js';
export { freePort, newLogsDir, waitFor } from './proc.js';
export { cacheDir, ensureTools, missingTools, repoRoot, toolPaths, versions } from './tools.js';
