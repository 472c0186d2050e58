// The CPU burner of the loaded test mode (`npm test -- --load`, scripts/test.sh): one busy worker
// thread per core (os.availableParallelism()), at normal priority, so the tests, the operator,
// kube-apiserver, etcd and moto all compete for saturated cores.
//
// Bounded: it ends on SIGTERM, SIGINT or SIGHUP, when its parent process is gone (checked twice a
// second: re-parented, or the pid no longer exists), or after --max-seconds, whichever comes
// first. It never outlives the run that started it, even when that run is SIGKILLed.
//
// Usage: node --import tsx scripts/cpu-burner.ts [--parent PID] [--max-seconds N] [--threads N]
//   --parent       the process whose life bounds ours (default: our parent)
//   --max-seconds  hard cap on the burn (default 3600)
//   --threads      busy threads (default: os.availableParallelism())
import { availableParallelism, getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value <= 0) {
    process.stderr.write(`[burner] --${name} needs a positive integer\n`);
    process.exit(2);
  }
  return value;
}

const initialParent = process.ppid;
const parent = flag('parent', initialParent);
const maxSeconds = flag('max-seconds', 3_600);
const threads = flag('threads', availableParallelism());
const startedAt = Date.now();
const cpuAtStart = process.cpuUsage();

// A tight integer loop: no allocation, no I/O, so each thread keeps one core busy.
const spin = 'let x = 1; for (;;) { x = (Math.imul(x, 1103515245) + 12345) | 0; }';
const workers = Array.from({ length: threads }, () => new Worker(spin, { eval: true }));
for (const w of workers) w.on('error', (err) => stop(`a burner thread failed: ${err.message}`, 1));

const say = (text: string) => {
  try { process.stderr.write(`[burner] ${text}\n`); } catch { /* our stderr may be gone with the parent */ }
};
say(`pid ${process.pid}: ${threads} busy threads (os.availableParallelism() = ${availableParallelism()}) at priority ${getPriority()}; ends with pid ${parent} or after ${maxSeconds} s`);

let stopping = false;
function stop(why: string, code = 0): void {
  if (stopping) return;
  stopping = true;
  const wallS = (Date.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuAtStart); // every thread of the process, in microseconds
  const cpuS = (cpu.user + cpu.system) / 1e6;
  say(`stopping (${why}): ${cpuS.toFixed(0)} CPU-seconds in ${wallS.toFixed(0)} s, ${(cpuS / Math.max(wallS, 0.001)).toFixed(2)} cores busy on average`);
  process.exit(code); // ends the worker threads with the process
}

function parentGone(): boolean {
  if (parent === initialParent && process.ppid !== parent) return true; // re-parented: our parent died
  try {
    process.kill(parent, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
setInterval(() => { if (parentGone()) stop(`parent ${parent} is gone`); }, 500);
setTimeout(() => stop(`max duration of ${maxSeconds} s reached`, 3), maxSeconds * 1_000);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
