import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, parseConfig, parseRegionMap } from './config.js';

const KEY32 = 'k'.repeat(32);

describe('parseConfig', () => {
  it('has documented defaults', () => {
    const c = parseConfig([], {});
    expect(c).toMatchObject({ concurrent: DEFAULTS.concurrent, defaultRegion: 'us-east-1', namespaces: [], leaderElect: false, sessionTags: 'namespace', changeDetection: true, batchGet: true });
    expect(c.leaseDurationMs).toBe(15_000);
    expect(c.renewDeadlineMs).toBe(10_000);
    expect(c.retryPeriodMs).toBe(2_000);
    expect(c.awsConnectTimeoutMs).toBe(5_000);
    expect(c.awsRequestTimeoutMs).toBe(30_000);
    expect(c.kubeRequestTimeoutMs).toBe(30_000);
  });

  it('reads the timeouts as durations', () => {
    const c = parseConfig(['--aws-connect-timeout', '1500ms', '--aws-request-timeout', '1m', '--kube-request-timeout', '10s'], {});
    expect(c.awsConnectTimeoutMs).toBe(1_500);
    expect(c.awsRequestTimeoutMs).toBe(60_000);
    expect(c.kubeRequestTimeoutMs).toBe(10_000);
  });

  it('reads flags and environment', () => {
    const c = parseConfig(['--namespaces', 'a, b', '--concurrent', '4', '--lease-duration', '30s', '--aws-endpoints', 'eu-west-1=https://vpce.example'], { AWS_REGION: 'eu-west-1', ELS_HASH_KEY: KEY32 });
    expect(c.namespaces).toEqual(['a', 'b']);
    expect(c.concurrent).toBe(4);
    expect(c.leaseDurationMs).toBe(30_000);
    expect(c.defaultRegion).toBe('eu-west-1');
    expect(c.hashKey?.toString()).toBe(KEY32);
    expect(c.secretsManagerEndpoints).toEqual({ 'eu-west-1': 'https://vpce.example' });
  });

  it.each([
    [['--concurrent', '0'], /--concurrent/],
    [['--lease-duration', 'soon'], /--lease-duration/],
    [['--log-level', 'loud'], /--log-level/],
    [['--session-tags', 'all'], /--session-tags/],
    [['--role-rules', '{"x":1}'], /access rules: .*JSON array/],
    [['--access-rules', '[{"namespaces":["a"]}]'], /access rules: rule 0: needs "secrets", "roles" or "generate"/],
    [['--access-rules', '[]', '--role-rules', '[]'], /not both/],
    [['--aws-endpoints', 'mars=http://x'], /--aws-endpoints/],
    [['--aws-connect-timeout', '5'], /--aws-connect-timeout must be a duration/],
    [['--aws-request-timeout', '0'], /--aws-request-timeout must be longer than 0/],
    [['--kube-request-timeout', 'soon'], /--kube-request-timeout must be a duration/],
    [['--kube-request-timeout', '0'], /--kube-request-timeout must be longer than 0/],
  ])('refuses %j with a clear message', (args, message) => {
    expect(() => parseConfig(args, {})).toThrow(message);
  });

  describe('hash key', () => {
    const keyFile = (content: string) => {
      const file = join(mkdtempSync(join(tmpdir(), 'els-key-')), 'hash-key');
      writeFileSync(file, content);
      return file;
    };

    it('none given: undefined (the operator then draws 32 random bytes per process)', () => {
      expect(parseConfig([], {}).hashKey).toBeUndefined();
      expect(parseConfig([], { ELS_HASH_KEY: '' }).hashKey).toBeUndefined();
    });

    it('accepts 32 bytes from ELS_HASH_KEY, and from a file with surrounding whitespace trimmed; the file wins', () => {
      expect(parseConfig([], { ELS_HASH_KEY: KEY32 }).hashKey?.length).toBe(32);
      const fromFile = parseConfig(['--hash-key-file', keyFile(`  ${'f'.repeat(40)}\n`)], { ELS_HASH_KEY: KEY32 }).hashKey;
      expect(fromFile?.toString()).toBe('f'.repeat(40));
      // Bytes, not characters: 11 three-byte characters are 33 bytes.
      expect(parseConfig([], { ELS_HASH_KEY: '€'.repeat(11) }).hashKey?.length).toBe(33);
    });

    it('refuses a key under 32 bytes, naming where it came from and the minimum, never the key', () => {
      const short = 'short-key-VISIBLE';
      let error: unknown;
      try { parseConfig([], { ELS_HASH_KEY: short }); } catch (e) { error = e; }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/ELS_HASH_KEY is 17 bytes; it must be at least 32 bytes/);
      expect((error as Error).message).not.toContain(short);
      expect(() => parseConfig([], { ELS_HASH_KEY: 'k'.repeat(31) })).toThrow(/at least 32 bytes/);
      const file = keyFile(`${'x'.repeat(31)}\n\n`);
      expect(() => parseConfig(['--hash-key-file', file], {})).toThrow(new RegExp(`--hash-key-file ${file} is 31 bytes; it must be at least 32 bytes`));
      expect(() => parseConfig(['--hash-key-file', keyFile('')], { ELS_HASH_KEY: KEY32 })).toThrow(/is 0 bytes/);
    });
  });

  it('refuses unknown flags', () => {
    expect(() => parseConfig(['--namespace', 'a'], {})).toThrow(/unknown flag --namespace: did you mean --namespaces\?/);
  });

  it('parses region maps', () => {
    expect(parseRegionMap(undefined)).toEqual({});
    expect(() => parseRegionMap('us-east-1')).toThrow(ConfigError);
  });

  it('reads access rules, and takes the deprecated role rules as access rules with a warning', () => {
    const rules = '[{"namespaces":["*"],"secrets":["${namespace}/*"]}]';
    expect(parseConfig(['--access-rules', rules], {}).accessRules).toEqual([{ namespaces: ['*'], secrets: ['${namespace}/*'] }]);
    expect(parseConfig([], { ELS_ACCESS_RULES: rules }).deprecations).toEqual([]);
    const legacy = parseConfig(['--role-rules', '[{"namespaces":["a"],"roles":["r"]}]'], {});
    expect(legacy.accessRules).toEqual([{ namespaces: ['a'], roles: ['r'] }]);
    expect(legacy.deprecations.join()).toMatch(/deprecated.*--access-rules/);
    expect(parseConfig([], {}).accessRules).toEqual([]);
  });
});

describe('unknown flags and bad durations', () => {
  it.each([
    [['--namspaces', 'a'], 'unknown flag --namspaces: did you mean --namespaces? (--help lists every flag)'],
    [['--concurent=3'], 'unknown flag --concurent: did you mean --concurrent?'],
    [['--acess-rules-file', 'x'], 'did you mean --access-rules-file?'],
    [['--kubconfig', 'x'], 'did you mean --kubeconfig?'],
    [['--leader'], 'did you mean --leader-elect?'],
    [['--zzz'], 'unknown flag --zzz (--help lists every flag)'],
    [['stray'], 'unexpected argument "stray": give flags as --flag VALUE or --flag=VALUE'],
  ])('%j: %s', (args, message) => {
    let error: unknown;
    try { parseConfig(args, {}); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(message);
  });

  it.each([
    [['--relist-interval', '5 minutes'], '--relist-interval must be a duration: write 5m, not "5 minutes"'],
    [['--source-cache-ttl', '1.5h'], '--source-cache-ttl must be a duration: no decimals: write 1h30m, not "1.5h"'],
    [['--lease-duration', 'soon'], '--lease-duration must be a duration: "soon" is not a whole number and a unit (ms, s, m, h, d), several in a row allowed, no spaces or decimals: for example 30s, 5m, 1h, 1h30m or 7d'],
  ])('%j: %s', (args, message) => {
    expect(() => parseConfig(args, {})).toThrow(message);
  });
});
