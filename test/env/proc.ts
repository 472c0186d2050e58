// Child-process plumbing for the test servers: free ports, logged children that die with us,
// and polling until a server answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './tools.js';

const reaper = join(repoRoot, 'test', 'env', 'reaper.sh');

/** A port nothing listens on right now (the OS picks it; tiny race until the server binds). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/** `.test-logs/<run-id>` under the repo; one per test run, demo or benchmark. */
export function newLogsDir(): string {
  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const dir = join(repoRoot, '.test-logs', runId);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  /** Rejects-free: resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<string>;
  hasExited(): boolean;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let handlersInstalled = false;

// Kill every child when this process goes away, however it goes; the reaper covers SIGKILL.
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = () => { for (const child of live) child.kill('SIGTERM'); };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = () => {
      killAll();
      // Only exit if nobody else (e.g. vitest) handles the signal; otherwise leave it to them.
      if (process.listenerCount(signal) === 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on(signal, onSignal);
  }
}

/** Starts `command` through reaper.sh with stdout and stderr appended to `<logsDir>/<name>.log`. */
export function startProcess(name: string, command: string, args: string[], opts: { logsDir: string; env?: NodeJS.ProcessEnv }): ManagedProcess {
  installExitHandlers();
  const logPath = join(opts.logsDir, `${name}.log`);
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(reaper, [command, ...args], {
    detached: false,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  live.add(child);
  let done = false;
  const exited = new Promise<string>((resolveExit) => {
    child.on('exit', (code, signal) => {
      done = true;
      live.delete(child);
      resolveExit(signal ?? String(code));
    });
    child.on('error', (error) => {
      done = true;
      live.delete(child);
      log.write(`[els] spawn failed: ${error.message}\n`);
      resolveExit('spawn-error');
    });
  });
  exited.finally(() => setTimeout(() => log.end(), 100));
  const stop = async () => {
    if (done) return;
    child.kill('SIGTERM'); // the reaper forwards it and SIGKILLs after 5 s
    await exited;
  };
  return { name, logPath, exited, hasExited: () => done, stop };
}

/** Polls `check` until it returns a value other than undefined; fails early if `proc` dies. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, opts: { timeoutMs: number; proc?: ManagedProcess }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (opts.proc?.hasExited()) throw new Error(`${opts.proc.name} exited while waiting for ${what}; see ${opts.proc.logPath}`);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
  const logHint = opts.proc ? `; see ${opts.proc.logPath}` : '';
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${cause}${logHint}`);
}
