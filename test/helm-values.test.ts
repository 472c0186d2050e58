// The chart's values schema: typos and wrong types are refused with a message naming the value,
// and so are combinations the chart cannot serve.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART, helm, tmp } from './helpers/helm.js';

/** Renders the chart with these values (YAML text), expects helm to refuse, and gives its stderr. */
function refused(name: string, valuesYaml: string): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, valuesYaml);
  const r = helm(['template', name, CHART, '-f', file]);
  expect(r.code).not.toBe(0);
  return r.stderr;
}

describe('values schema', () => {
  it('rejects a misspelt value with a message naming it', () => {
    const stderr = refused('typo', 'leaderElct: false\nimage:\n  tagg: v1\n');
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toMatch(/additional propert(y|ies) 'leaderElct' not allowed/);
    expect(stderr).toMatch(/at '\/image': additional propert(y|ies) 'tagg' not allowed/);
  });

  it('rejects a value of the wrong type with a message naming it', () => {
    const stderr = refused('type', 'concurrent: "ten"\npodDisruptionBudget:\n  enabled: "yes"\n');
    expect(stderr).toContain("at '/concurrent': got string, want integer");
    expect(stderr).toContain("at '/podDisruptionBudget/enabled': got string, want boolean");
  });

  it('checks the new values too: aggregated roles, PrometheusRule rules, extraObjects, the hash-key Secret key', () => {
    const stderr = refused('new', 'rbac:\n  aggregateToEdit: "yes"\nprometheusRule:\n  extraRules:\n    - labels: {a: b}\nextraObjects: [42]\nhashKey:\n  existingSecretKey: ""\n');
    expect(stderr).toContain("at '/rbac/aggregateToEdit': got string, want boolean");
    expect(stderr).toMatch(/at '\/prometheusRule\/extraRules\/0'/);
    expect(stderr).toContain("at '/extraObjects/0': got number, want string or object");
    expect(stderr).toMatch(/at '\/hashKey\/existingSecretKey'/);
  });

  it('refuses several replicas without leader election', () => {
    const r = helm(['template', 'x', CHART, '--set', 'replicaCount=2', '--set', 'leaderElect=false']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicaCount > 1 needs leaderElect: true');
  });
});
