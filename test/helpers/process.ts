// Runs the operator as its own process (src/main.ts through tsx), as it runs in a pod: for
// leader election, signals, probes and /metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { freePort, getTestEnv, repoRoot } from '../env/index.js';
import { ALLOW_ALL_RULES, TEST_HASH_KEY, hasRules, operatorLogDir } from './operator.js';

export interface OperatorProcess {
  child: ChildProcess;
  pid: number;
  metricsUrl: string;
  healthUrl: string;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

// One exit hook for every child: a test process that dies takes its operators with it.
const children = new Set<ChildProcess>();
process.once('exit', () => { for (const c of children) c.kill('SIGKILL'); });

export async function startOperatorProcess(args: string[], opts: { awsEndpoint?: string; env?: NodeJS.ProcessEnv } = {}): Promise<OperatorProcess> {
  const env = getTestEnv();
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const endpoint = opts.awsEndpoint ?? env.motoEndpoint;
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/main.ts'),
    '--kubeconfig', env.kubeconfigPath, '--aws-endpoint', endpoint, '--sts-endpoint', endpoint,
    '--metrics-port', String(metricsPort), '--health-port', String(healthPort), '--log-level', 'debug', ...(hasRules(args) ? [] : ['--access-rules', ALLOW_ALL_RULES]), ...args], {
    cwd: repoRoot,
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ELS_HASH_KEY: TEST_HASH_KEY, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const file = createWriteStream(join(operatorLogDir(), `process-${child.pid}.jsonl`));
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    file.write(chunk);
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) { try { lines.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON */ } }
  });
  child.stderr!.on('data', (chunk: Buffer) => file.write(chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { file.end(); resolve(code); }));
  children.add(child);
  child.once('exit', () => children.delete(child));
  return {
    child, pid: child.pid!, lines, exited,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    healthUrl: `http://127.0.0.1:${healthPort}`,
    kill: (signal = 'SIGTERM') => { child.kill(signal); },
  };
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  return res.text();
}

/** Sum of a metric's samples whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[4]);
  }
  return sum;
}
