import { getToken } from '@aws/bedrock-token-generator';
import { describe, expect, it } from 'vitest';
import { decodeBedrockKey, formatSeconds, parseVersionId, renewAtOf, versionIdOf } from './token.js';

describe('Bedrock API keys', () => {
  it('decodes what @aws/bedrock-token-generator mints: host, action, credential scope, expiry', async () => {
    const token = await getToken({ credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'not-a-secret', sessionToken: 'session' }, region: 'eu-west-1', expiresInSeconds: 900 });
    const parts = decodeBedrockKey(token);
    expect(parts).toMatchObject({ host: 'bedrock.amazonaws.com', action: 'CallWithBearerToken', version: '1', accessKeyId: 'ASIAEXAMPLE', expiresInSeconds: 900 });
    expect(parts.scope).toMatchObject({ region: 'eu-west-1', service: 'bedrock' });
    expect(Math.abs(parts.signedAt.getTime() - Date.now())).toBeLessThan(5_000);
    expect(parts.expiresAt.getTime() - parts.signedAt.getTime()).toBe(900_000);
    expect(parts.query.get('X-Amz-Security-Token')).toBe('session');
  });

  it('refuses anything else', () => {
    expect(() => decodeBedrockKey('sk-123')).toThrow(/not a Bedrock API key/);
    expect(() => decodeBedrockKey(`bedrock-api-key-${Buffer.from('bedrock.amazonaws.com/?Action=X').toString('base64')}`)).toThrow(/without/);
  });
});

describe('version ids', () => {
  const issued = new Date('2026-01-01T00:00:00Z');
  const expires = new Date('2026-01-01T01:00:00Z');

  it('name the times and a hash, never the key id itself', () => {
    const v = versionIdOf('bedrockApiKey', 'us-east-1', 'ASIAKEYID', issued, expires);
    expect(v).toMatch(/^gen-1767225600-1767229200-[0-9a-f]{12}$/);
    expect(v).not.toContain('ASIAKEYID');
    expect(versionIdOf('bedrockApiKey', 'us-east-1', 'ASIAOTHER', issued, expires)).not.toBe(v);
    expect(parseVersionId(v)).toEqual({ issuedAt: issued, expiresAt: expires });
  });

  it('anything else does not parse (a stored secret version, a tampered id)', () => {
    expect(parseVersionId('a1b2c3d4-0000-0000-0000-000000000000')).toBeUndefined();
    expect(parseVersionId('gen-2-1-0123456789ab')).toBeUndefined();
  });
});

describe('renewal point', () => {
  const issued = new Date('2026-01-01T00:00:00Z');
  const expires = new Date('2026-01-01T01:00:00Z');

  it('at the percentage asked, moved earlier by at most a tenth of it, the same for one version every time', () => {
    const points = Array.from({ length: 200 }, (_, i) => {
      const v = versionIdOf('awsCredentials', 'us-east-1', `ASIA${i}`, issued, expires);
      const at = renewAtOf(v, issued, expires, 80);
      expect(renewAtOf(v, issued, expires, 80)).toEqual(at);
      return (at.getTime() - issued.getTime()) / 3_600_000;
    });
    expect(Math.max(...points)).toBeLessThanOrEqual(0.8);
    expect(Math.min(...points)).toBeGreaterThanOrEqual(0.72);
    expect(new Set(points.map((p) => p.toFixed(3))).size).toBeGreaterThan(50);
    const v = versionIdOf('awsCredentials', 'us-east-1', 'ASIA', issued, expires);
    expect(renewAtOf(v, issued, expires, 50).getTime()).toBeLessThanOrEqual(issued.getTime() + 1_800_000);
  });

  it('formats durations', () => {
    expect([formatSeconds(3600), formatSeconds(3723), formatSeconds(59), formatSeconds(0)]).toEqual(['1h', '1h2m3s', '59s', '0s']);
  });
});
