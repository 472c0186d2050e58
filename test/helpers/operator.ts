// Runs the real operator in-process against the test environment: the same composition root
// as the binary (startOperator), pointed at the test apiserver and moto, scoped to the test's
// namespaces. Logs go at debug level to a JSONL file under the run's logs dir, which the leak
// scan reads at the end of the suite.
import { appendFileSync, createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startOperator, type RunningOperator } from '../../src/operator.js';
import { adminKubeConfig, getTestEnv, TEST_CREDENTIALS, type AwsCredentials } from '../env/index.js';

/** Suites not about tenancy read any secret with the operator's identity; test/tenancy.test.ts and
 * the guard tests pass rules of their own. */
export const ALLOW_ALL_RULES = JSON.stringify([{ namespaces: ['*'], secrets: ['*'] }]);
export const hasRules = (args: string[]) => args.some((a) => /^--(access|role)-rules/.test(a));

/** At least 32 bytes: shorter keys are refused at start-up. */
export const TEST_HASH_KEY = 'test-hash-key-not-secret-0123456789abcdef';

export interface TestOperator extends RunningOperator {
  /** Every log line this operator wrote, parsed. */
  lines: Array<Record<string, unknown>>;
}

/**
 * Registers secret values that cannot carry a SECRETVALUE- marker (generated keys, STS
 * credentials) for the final leak scan (test/zz-leak-scan.test.ts), which searches for them literally.
 */
export function registerLeakValues(suite: string, values: Iterable<string>): void {
  const dir = join(getTestEnv().logsDir, 'leak-markers');
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, `${suite}-${process.pid}.txt`), [...values].map((v) => `${v}\n`).join(''));
}

export function operatorLogDir(): string {
  const dir = join(getTestEnv().logsDir, 'operator');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function startTestOperator(opts: {
  namespaces: string[];
  args?: string[];
  awsEndpoint?: string;
  awsCredentials?: AwsCredentials;
  kubeConfig?: ReturnType<typeof adminKubeConfig>;
}): Promise<TestOperator> {
  const env = getTestEnv();
  const config = parseConfig([
    '--namespaces', opts.namespaces.join(','),
    '--aws-endpoint', opts.awsEndpoint ?? env.motoEndpoint,
    '--sts-endpoint', opts.awsEndpoint ?? env.motoEndpoint,
    '--metrics-port', '0', '--health-port', '0',
    '--log-level', 'debug',
    '--aws-max-attempts', '1',
    ...(hasRules(opts.args ?? []) ? [] : ['--access-rules', ALLOW_ALL_RULES]),
    ...(opts.args ?? []),
  ], { ELS_HASH_KEY: TEST_HASH_KEY });
  const lines: Array<Record<string, unknown>> = [];
  const file = createWriteStream(join(operatorLogDir(), `${opts.namespaces.join('_') || 'all'}-${process.pid}-${Date.now()}.jsonl`));
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      file.write(chunk);
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = createLogger('debug', sink);
  const op = await startOperator(config, {
    kubeConfig: opts.kubeConfig ?? adminKubeConfig(),
    log,
    awsCredentials: opts.awsCredentials ?? TEST_CREDENTIALS,
    onLostLeadership: () => undefined,
  });
  const stopOperator = op.stop;
  return Object.assign(op, {
    lines,
    stop: async () => { await stopOperator(); file.end(); },
  });
}

/** The operator's one log line per reconcile outcome (`synced`, `in sync`, `sync failed`) for a resource. */
export function syncOutcomes(lines: Array<Record<string, unknown>>, namespace: string, name: string, msg?: 'synced' | 'in sync' | 'sync failed'): Array<Record<string, unknown>> {
  return lines.filter((l) => l.namespace === namespace && l.name === name && (msg ? l.msg === msg : ['synced', 'in sync', 'sync failed'].includes(String(l.msg))));
}
