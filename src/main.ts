#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=10
// The process: flags → config → operator; clean shutdown on SIGTERM and SIGINT.
import { runCheck } from './check.js';
import { ConfigError, parseConfig, USAGE, wantsHelp } from './config.js';
import { createLogger } from './observability/logger.js';
import { CrdMissingError, startOperator, type RunningOperator } from './operator.js';
import { VERSION } from './version.js';

async function main(argv: string[]): Promise<number> {
  // `check`: a dry run of one resource (src/check.ts); it writes nothing and exits.
  if (argv[0] === 'check') return runCheck(argv.slice(1), process.env, process.stdout);
  const asked = wantsHelp(argv);
  if (asked === 'help') { process.stdout.write(USAGE); return 0; }
  if (asked === 'version') { process.stdout.write(`external-llm-secrets ${VERSION}\n`); return 0; }
  let config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    // The message says what is wrong (and what was probably meant); the whole usage would bury it.
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const log = createLogger(config.logLevel);
  log.info({ version: VERSION, node: process.version }, 'starting external-llm-secrets');
  let operator: RunningOperator | undefined;
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    void (operator?.stop() ?? Promise.resolve()).then(() => { log.info('stopped'); process.exit(0); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason instanceof Error ? reason.name : String(reason) }, 'unhandled rejection');
  });
  try {
    // Test hook (test/recovery.test.ts): die without any clean-up right after the Secret of the
    // named resource is written, before rollout restarts and status, as a crash or OOM kill would.
    const killAfter = process.env.ELS_TEST_KILL_AFTER_SECRET_WRITE;
    const afterSecretWrite = killAfter ? (key: string) => { if (key === killAfter) process.kill(process.pid, 'SIGKILL'); } : undefined;
    operator = await startOperator(config, { log, afterSecretWrite });
    if (shuttingDown) await operator.stop();
    return -1;
  } catch (err) {
    if (err instanceof CrdMissingError || err instanceof ConfigError) log.fatal(err.message);
    else log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'start-up failed');
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
