// EventBridge → SQS in moto, for the event-driven refresh tests and the benchmark: a queue with
// the policy EventBridge needs, the rule (the same pattern README documents) and its target, and
// Secrets Manager change events as EventBridge delivers them.
//
// moto's Secrets Manager emits no events (no CloudTrail in moto), so a test calls the API
// (PutSecretValue) and then puts the CloudTrail-shaped event on the bus itself with PutEvents;
// moto's EventBridge matches it against the rule and delivers it to the queue, as AWS would.
// (AWS refuses PutEvents with an `aws.` source; moto does not check.)
import { DeleteRuleCommand, EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { MOTO_ACCOUNT_ID, MOTO_REGION, TEST_CREDENTIALS } from './moto.js';

/** The rule's event pattern (README "Event-driven refresh"). */
export const EVENT_PATTERN = {
  source: ['aws.secretsmanager'],
  'detail-type': ['AWS API Call via CloudTrail', 'AWS Service Event via CloudTrail'],
  detail: {
    eventSource: ['secretsmanager.amazonaws.com'],
    eventName: [
      'CreateSecret', 'PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage', 'RotateSecret',
      'DeleteSecret', 'RestoreSecret', 'TagResource', 'UntagResource',
      'RotationSucceeded', 'RotationFailed', 'RotationAbandoned',
    ],
  },
};

export const sqsClient = (endpoint: string) => new SQSClient({ endpoint, region: MOTO_REGION, credentials: TEST_CREDENTIALS, maxAttempts: 1 });
export const eventsClient = (endpoint: string) => new EventBridgeClient({ endpoint, region: MOTO_REGION, credentials: TEST_CREDENTIALS, maxAttempts: 1 });

export interface EventsQueue { queueUrl: string; queueArn: string; ruleArn: string; queueName: string }

/** A queue, its policy, and a rule on the default bus that delivers Secrets Manager change events to it. */
export async function createEventsQueue(endpoint: string, name: string): Promise<EventsQueue> {
  const sqs = sqsClient(endpoint);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '30' } }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  const queueArn = Attributes!.QueueArn!;
  const ev = eventsClient(endpoint);
  const { RuleArn } = await ev.send(new PutRuleCommand({ Name: `${name}-rule`, EventPattern: JSON.stringify(EVENT_PATTERN), State: 'ENABLED' }));
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: { Policy: JSON.stringify(queuePolicy(queueArn, RuleArn!)) } }));
  await ev.send(new PutTargetsCommand({ Rule: `${name}-rule`, Targets: [{ Id: 'els', Arn: queueArn }] }));
  sqs.destroy(); ev.destroy();
  return { queueUrl: QueueUrl!, queueArn, ruleArn: RuleArn!, queueName: name };
}

/** Removes the rule (a rule left pointing at a deleted queue fails every later PutEvents in moto) and the queue. */
export async function deleteEventsQueue(endpoint: string, q: EventsQueue): Promise<void> {
  const ev = eventsClient(endpoint);
  const sqs = sqsClient(endpoint);
  try {
    await ev.send(new RemoveTargetsCommand({ Rule: `${q.queueName}-rule`, Ids: ['els'] }));
    await ev.send(new DeleteRuleCommand({ Name: `${q.queueName}-rule` }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: q.queueUrl }));
  } finally {
    ev.destroy(); sqs.destroy();
  }
}

/** The queue policy (README): EventBridge may send, for this rule only. */
export function queuePolicy(queueArn: string, ruleArn: string): object {
  return {
    Version: '2012-10-17',
    Statement: [{
      Sid: 'EventBridgeSecretsManagerChanges', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' },
      Action: 'sqs:SendMessage', Resource: queueArn, Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
    }],
  };
}

/** The detail of a CloudTrail "AWS API Call via CloudTrail" event for a Secrets Manager call. */
export function cloudTrailDetail(eventName: string, secretId: string, at = new Date()): Record<string, unknown> {
  return {
    eventVersion: '1.08', userIdentity: { type: 'AssumedRole', accountId: MOTO_ACCOUNT_ID },
    eventTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z'), eventSource: 'secretsmanager.amazonaws.com', eventName, awsRegion: MOTO_REGION,
    sourceIPAddress: '192.0.2.1', userAgent: 'aws-sdk-js', requestParameters: { secretId, clientRequestToken: '00000000-0000-0000-0000-000000000000' },
    responseElements: null, requestID: '00000000-0000-0000-0000-000000000001', eventID: `${Math.random()}`, readOnly: false,
    eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: MOTO_ACCOUNT_ID, eventCategory: 'Management',
  };
}

/** PutEvents with the CloudTrail-shaped event (moto delivers it to the rule's targets). */
export async function putSecretsManagerEvent(endpoint: string, eventName: string, secretId: string): Promise<void> {
  const ev = eventsClient(endpoint);
  const out = await ev.send(new PutEventsCommand({
    Entries: [{ Source: 'aws.secretsmanager', DetailType: 'AWS API Call via CloudTrail', Detail: JSON.stringify(cloudTrailDetail(eventName, secretId)) }],
  }));
  ev.destroy();
  if (out.FailedEntryCount) throw new Error(`PutEvents failed: ${JSON.stringify(out.Entries)}`);
}
