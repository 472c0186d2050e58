// Kubernetes Events about ExternalLLMSecrets, with the standard reporting fields. The reconciler
// records only on transitions, so a failing resource does not flood the apiserver; a recording
// failure is logged and never fails a sync.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, KIND } from '../crds/constants.js';
import type { ExternalLLMSecret } from '../crds/types.js';
import { isNamespaceTerminating, type KubeClient } from './client.js';
import { errorSummary } from '../controller/informer.js';

export const REPORTING_COMPONENT = 'external-llm-secrets';

export const EventReason = {
  Synced: 'Synced',
  Updated: 'Updated',
  SyncFailed: 'SyncFailed',
  Conflict: 'Conflict',
  RolloutRestarted: 'RolloutRestarted',
  RolloutRestartFailed: 'RolloutRestartFailed',
  KeyExpiring: 'KeyExpiring',
  KeyExpired: 'KeyExpired',
  NotEnvVarNames: 'NotEnvVarNames',
} as const;

export interface EventSink {
  record(obj: ExternalLLMSecret, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export class EventRecorder implements EventSink {
  constructor(private readonly kube: KubeClient, private readonly instance: string, private readonly log: Logger) {}

  async record(obj: ExternalLLMSecret, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    const event: CoreV1Event = {
      metadata: { generateName: `${obj.metadata.name}.`, namespace: obj.metadata.namespace },
      involvedObject: {
        apiVersion: API_VERSION, kind: KIND, name: obj.metadata.name, namespace: obj.metadata.namespace,
        uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      action: 'Sync',
      source: { component: REPORTING_COMPONENT },
      reportingComponent: REPORTING_COMPONENT,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      eventTime: undefined,
      count: 1,
    };
    try {
      await this.kube.createEvent(event);
    } catch (err) {
      // A namespace being deleted refuses new objects: expected, and nobody would read the event.
      const level = isNamespaceTerminating(err) ? 'debug' : 'warn';
      this.log[level]({ namespace: obj.metadata.namespace, name: obj.metadata.name, reason, err: errorSummary(err) }, 'could not record event');
    }
  }
}
