// The README's "run the operator" command, run the way a newcomer would, non-interactively.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot, toolPaths } from './env/index.js';
import { nodeUnavailableReason } from './env/node.js';

describe('npm run demo', () => {
  it('starts everything, syncs, rotates, masks values and cleans up', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--non-interactive'], {
      cwd: repoRoot, timeout: 240_000, env: { ...process.env, ELS_TEST_ENV: '' },
    });
    expect(stdout).toMatch(/openai\s+True\s+Synced\s+openai/);
    expect(stdout).toMatch(/anthropic\s+True\s+Synced\s+anthropic/);
    expect(stdout).toContain('OPENAI_API_KEY=sk-******** (19 chars)');
    expect(stdout).toContain('OPENAI_API_KEY=sk-******** (27 chars)');
    expect(stdout).toMatch(/llmsecrets\.dev\/restartedAt: \(none\) -> \d{4}-/);
    expect(stdout).toContain('externalllmsecret_aws_api_calls_total');
    // The hints are real commands, run once by the demo as printed: kubectl from the test tools
    // with the demo's kubeconfig, and the check command.
    expect(stdout).toContain(`$ ${toolPaths.kubectl} --kubeconfig `);
    expect(stdout).toMatch(/\$ \S+\/kubectl --kubeconfig \S+ get externalllmsecrets -n demo\n {2}NAME +READY +REASON +SECRET +LAST SYNC +AGE\n/);
    expect(stdout).toMatch(/get els,secrets -n demo\n(.*\n)*? {2}secret\/openai +Opaque +\d+ /);
    expect(stdout).toMatch(/annotate els openai -n demo llmsecrets\.dev\/force-sync="\$\(date \+%s\)" --overwrite/);
    expect(stdout).toMatch(/src\/main\.ts check -n demo --name openai --kubeconfig \S+ --aws-endpoint http:\/\/127\.0\.0\.1:\d+ /);
    expect(stdout).toMatch(/✓ access rules +namespace demo may read prod\/llm\/openai/);
    expect(stdout).toContain('OK: the operator would write 2 keys into Secret demo/openai. Nothing was written.');
    // Where a node can run (root on Debian), a pod reads the key from its volume, before and after the rotation.
    if (nodeUnavailableReason() === undefined) {
      expect(stdout).toMatch(/pod key-reader \(node \S+, started in [\d.]+ s\) reads OPENAI_API_KEY=sk-\*{8} \(19 chars\) from its volume/);
      expect(stdout).toMatch(/pod key-reader, still running, now reads OPENAI_API_KEY=sk-\*{8} \(27 chars\) from its volume \([\d.]+ s after PutSecretValue/);
    } else {
      process.stderr.write(`[demo.test] no pod on a real node here: ${nodeUnavailableReason()}\n`);
    }
    expect(stdout).toContain('cleaning up');
    // The seeded values never appear whole.
    for (const value of ['sk-demo-openai-0001', 'sk-demo-openai-0002-rotated', 'sk-ant-demo-0001']) expect(stdout).not.toContain(value);
  }, 300_000);
});
