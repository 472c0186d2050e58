// Names users see. One place, so the CRD, the controller and the docs agree.
export const GROUP = 'llmsecrets.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ExternalLLMSecret';
export const PLURAL = 'externalllmsecrets';
export const SINGULAR = 'externalllmsecret';
export const SHORT_NAMES = ['els', 'llmsecret'];
export const CATEGORIES = ['llmsecrets', 'external-secrets'];
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Label on every Secret the operator manages; the Secret watch selects on it. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'external-llm-secrets';
/** Names the ExternalLLMSecret that owns a managed Secret (survives Retain, unlike ownerReferences). */
export const OWNER_ANNOTATION = `${GROUP}/owner`;
/** With creationPolicy Merge: the keys this operator wrote into a Secret it does not own. */
export const MERGED_KEYS_ANNOTATION = `${GROUP}/merged-keys`;
/**
 * With creationPolicy Merge: the annotation a Secret must carry for an ExternalLLMSecret to merge
 * into it, naming that resource (one name, of the Secret's namespace). Set by whoever owns the
 * Secret; without it Merge is refused (SecretConflict).
 */
export const MERGE_FROM_ANNOTATION = `${GROUP}/merge-from`;
/** Setting this annotation to any new value refreshes the resource at once. */
export const FORCE_SYNC_ANNOTATION = `${GROUP}/force-sync`;
/** Pod-template annotation patched on rollout-restart targets. */
export const RESTARTED_AT_ANNOTATION = `${GROUP}/restartedAt`;
/** Pod-template annotation: the status.dataHash the workload was restarted for. Patching it is
 * idempotent, so a restart retried after a crash or a failed patch happens exactly once. */
export const RESTARTED_FOR_ANNOTATION = `${GROUP}/restarted-for`;
