// The leak scan: after the other suites, read everything the operator wrote where people look —
// every operator log (test/helpers/operator.ts writes them at debug level under
// <logsDir>/operator/, and test/faults.test.ts adds its child processes' logs), every Event and
// every ExternalLLMSecret status in the cluster — and fail on any value the tests seeded.
// Suites mark seeded values with SECRETVALUE-<random> and external IDs with XID-<random>. Values
// that cannot carry a marker (generated Bedrock keys, STS credentials) are registered by their
// suite, one per line, in <logsDir>/leak-markers/*.txt, and searched for literally.
// It scans whatever exists when it runs, so it belongs last (see the README's Reliability section).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GROUP, PLURAL, VERSION } from '../src/crds/constants.js';
import type { ExternalLLMSecret } from '../src/crds/types.js';
import { getTestEnv } from './env/index.js';
import { core, custom } from './helpers/els.js';

const MARKERS = /SECRETVALUE-|XID-/;

/** Values registered by the suites that ran before (see leakMarkersDir in test/helpers/operator.ts). */
function registeredValues(): string[] {
  const dir = join(getTestEnv().logsDir, 'leak-markers');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.txt')).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n')).filter((v) => v.length >= 16);
}

let literals: string[] = [];

function hits(where: string, text: string): string[] {
  const found: string[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    // Never print a registered value: say which one (by position) was found.
    const literal = literals.findIndex((v) => line.includes(v));
    if (MARKERS.test(line)) found.push(`${where}:${i + 1}: ${line.slice(0, 300)}`);
    else if (literal >= 0) found.push(`${where}:${i + 1}: registered value #${literal}`);
  }
  return found;
}

describe('leak scan', () => {
  it('no seeded secret value or external ID in operator logs, Events or ExternalLLMSecret status', async () => {
    literals = registeredValues();
    const dir = join(getTestEnv().logsDir, 'operator');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jsonl')) : [];
    const leaks: string[] = [];
    let logBytes = 0;
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      logBytes += text.length;
      leaks.push(...hits(`log ${f}`, text));
    }
    const evs = await core().listEventForAllNamespaces();
    for (const e of evs.items) leaks.push(...hits(`event ${e.metadata?.namespace}/${e.metadata?.name}`, JSON.stringify({ message: e.message, reason: e.reason, note: (e as { note?: string }).note })));
    const all = await custom().listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as { items: ExternalLLMSecret[] };
    for (const els of all.items) leaks.push(...hits(`status ${els.metadata.namespace}/${els.metadata.name}`, JSON.stringify(els.status ?? {})));
    process.stderr.write(`[leak-scan] scanned ${files.length} log files (${logBytes} bytes), ${evs.items.length} events, ${all.items.length} statuses for the markers and ${literals.length} registered values: ${leaks.length} leaks\n`);
    expect(leaks).toEqual([]);
  });
});
