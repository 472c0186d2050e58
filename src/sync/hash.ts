// Keyed hash of Secret data for status.dataHash: lets users and the operator detect drift
// without putting anything a reader could brute-force into status.
import { createHmac } from 'node:crypto';

export function dataHash(key: Buffer, data: Record<string, Buffer>): string {
  const mac = createHmac('sha256', key);
  for (const k of Object.keys(data).sort()) {
    // Length-prefixed so that {a: "bc"} and {ab: "c"} differ.
    mac.update(`${k.length}:${k}:${data[k]!.length}:`);
    mac.update(data[k]!);
  }
  return `hmac-sha256:${mac.digest('hex')}`;
}
