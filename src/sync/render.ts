// Builds the desired Secret data from a spec and one source secret. Pure: no I/O, no clock.
// Every failure is a SyncError whose message names keys and properties, never values.
import type { DataMapping, ExternalLLMSecretSpec, KeyMapping } from '../crds/types.js';
import { describePreset, PLAIN_STRING_PRESETS, PRESETS, type PresetName } from './presets.js';
import { Reason, SyncError } from './reasons.js';
import { rewriteKey } from './rewrite.js';
import type { SourceSecret } from './source.js';

export const DEFAULT_LIMITS = {
  /** Largest single value; AWS itself caps a secret at 64 KiB. */
  maxValueBytes: 65_536,
  /** Room for the whole Secret's data; the apiserver refuses objects over 1 MiB in total. */
  maxTotalBytes: 1_000_000,
};
export type RenderLimits = typeof DEFAULT_LIMITS;

export interface RenderedData {
  data: Record<string, Buffer>;
  keys: KeyMapping[];
}

const VALID_KEY = /^[-._a-zA-Z0-9]+$/;
type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export function renderSecretData(
  spec: ExternalLLMSecretSpec,
  source: SourceSecret,
  limits: RenderLimits = DEFAULT_LIMITS,
): RenderedData {
  const id = source.secretId;
  const entries = new Map<string, { value: Buffer; property?: string }>();
  const needsJson = spec.dataFrom !== undefined || spec.provider !== undefined || (spec.data ?? []).some((d) => d.property !== undefined);
  // A single-key preset alone (no dataFrom, no data entry with a property) also takes a secret
  // that is the key itself, not JSON.
  const plainOk = spec.provider !== undefined && PLAIN_STRING_PRESETS.has(spec.provider)
    && spec.dataFrom === undefined && !(spec.data ?? []).some((d) => d.property !== undefined);
  const plain = plainOk ? plainKey(source) : undefined;
  const json = needsJson && plain === undefined ? parseJsonObject(source, jsonHint(spec)) : undefined;

  if (spec.dataFrom && json) {
    for (const [property, raw] of Object.entries(json)) {
      const key = rewriteKey(property, spec.dataFrom.rewrite);
      checkKey(key, id, `property "${property}"`);
      if (entries.has(key)) {
        throw new SyncError(Reason.DuplicateKey, `secret ${id}: properties "${entries.get(key)?.property}" and "${property}" both become key "${key}" after rewrite`);
      }
      entries.set(key, { value: encodeValue(raw, id, property, spec.dataFrom.asJson ?? false), property });
    }
  }
  if (spec.provider && plain !== undefined) {
    // The whole string is the key: every required output takes it, the optional ones stay unset.
    for (const output of PRESETS[spec.provider as PresetName] ?? []) {
      if (output.required) entries.set(output.secretKey, { value: Buffer.from(plain, 'utf8') });
    }
  }
  if (spec.provider && json) {
    for (const output of PRESETS[spec.provider as PresetName] ?? []) {
      const property = output.candidates.find((c) => json[c] !== undefined && json[c] !== null);
      if (property === undefined) {
        if (output.required) {
          const plainHint = PLAIN_STRING_PRESETS.has(spec.provider) ? ' (or store the key alone, as a plain string)' : '';
          throw new SyncError(Reason.MissingProperty, `secret ${id}: preset ${spec.provider} needs one of the JSON keys ${output.candidates.join(', ')} for ${output.secretKey}${plainHint}`);
        }
        continue;
      }
      entries.set(output.secretKey, { value: encodeValue(json[property] as Json, id, property, false), property });
    }
  }
  for (const mapping of spec.data ?? []) {
    checkKey(mapping.secretKey, id, `data entry "${mapping.secretKey}"`);
    entries.set(mapping.secretKey, renderMapping(mapping, source, json));
  }

  const keys: KeyMapping[] = [];
  let total = 0;
  const sorted = [...entries.keys()].sort();
  for (const key of sorted) {
    const entry = entries.get(key)!;
    if (entry.value.length > limits.maxValueBytes) {
      throw new SyncError(Reason.ValueTooLarge, `secret ${id}: value for key "${key}" is ${entry.value.length} bytes, over the limit of ${limits.maxValueBytes}`);
    }
    total += key.length + entry.value.length;
    keys.push(entry.property === undefined ? { secretKey: key } : { secretKey: key, property: entry.property });
  }
  // fromEntries defines own properties, so a key such as "__proto__" stays a key.
  const data: Record<string, Buffer> = Object.fromEntries(sorted.map((k) => [k, entries.get(k)!.value]));
  if (total > limits.maxTotalBytes) {
    throw new SyncError(Reason.ValueTooLarge, `secret ${id}: rendered data is ${total} bytes, over the limit of ${limits.maxTotalBytes}`);
  }
  return { data, keys };
}

function renderMapping(mapping: DataMapping, source: SourceSecret, json: JsonObject | undefined): { value: Buffer; property?: string } {
  if (mapping.property === undefined) return { value: wholeValue(source) };
  const found = lookup(json!, mapping.property);
  if (found === undefined) {
    throw new SyncError(Reason.MissingProperty, `secret ${source.secretId}: JSON property "${mapping.property}" not found`);
  }
  return { value: encodeValue(found, source.secretId, mapping.property, mapping.asJson ?? false), property: mapping.property };
}

function wholeValue(source: SourceSecret): Buffer {
  if (source.secretString !== undefined) return Buffer.from(source.secretString, 'utf8');
  if (source.secretBinary !== undefined) return Buffer.from(source.secretBinary);
  throw new SyncError(Reason.InvalidValue, `secret ${source.secretId}: version ${source.versionId} has no value`);
}

function parseJsonObject(source: SourceSecret, hint: string): JsonObject {
  if (source.secretString === undefined) {
    throw new SyncError(Reason.BinaryNotSupported, `secret ${source.secretId}: binary secrets can only be copied whole (a data entry without property)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source.secretString);
  } catch {
    // The parser's message can quote the input: do not pass it on.
    throw new SyncError(Reason.InvalidJSON, `secret ${source.secretId}: SecretString is not valid JSON; ${hint}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SyncError(Reason.InvalidJSON, `secret ${source.secretId}: SecretString is JSON but not an object (${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed}); ${hint}`);
  }
  return parsed as JsonObject;
}

/** What to do about a secret that is not a JSON object, for the spec at hand. */
function jsonHint(spec: ExternalLLMSecretSpec): string {
  const whole = 'to copy the whole SecretString into one key, use a data entry without property (data: [{secretKey: MY_KEY}])';
  if (spec.dataFrom !== undefined) return `dataFrom reads the keys of a JSON object; ${whole}`;
  if ((spec.data ?? []).some((d) => d.property !== undefined)) return `data entries with a property read a JSON object; ${whole}`;
  const alone = PLAIN_STRING_PRESETS.has(spec.provider ?? '') ? ' (or the key alone, as a plain string)' : '';
  return `${describePreset(spec.provider ?? '')}${alone}; ${whole}`;
}

/**
 * For a single-key preset: the key itself when the SecretString is not a JSON object (plain
 * text, or a JSON string), surrounding whitespace trimmed (a key saved from a file often ends in
 * a newline; API keys have no whitespace). undefined: it is a JSON object, read as such.
 */
function plainKey(source: SourceSecret): string | undefined {
  if (source.secretString === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(source.secretString);
  } catch {
    parsed = undefined;
  }
  const text = typeof parsed === 'string' ? parsed.trim() : parsed === undefined ? source.secretString.trim() : undefined;
  if (text === undefined) return undefined; // a JSON object, array, number...: the JSON path explains
  if (text === '') throw new SyncError(Reason.InvalidValue, `secret ${source.secretId}: SecretString is empty`);
  return text;
}

/** Dotted path lookup; a top-level key that itself contains dots wins over nesting. */
export function lookup(json: JsonObject, path: string): Json | undefined {
  if (Object.hasOwn(json, path)) return json[path];
  let node: Json | undefined = json;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as JsonObject)[part];
  }
  return node;
}

/** Strings as they are; numbers and booleans as their JSON text; objects and arrays only when asked. */
function encodeValue(value: Json, id: string, property: string, asJson: boolean): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'boolean') return Buffer.from(JSON.stringify(value), 'utf8');
  if (value === null) throw new SyncError(Reason.InvalidValue, `secret ${id}: JSON property "${property}" is null`);
  if (asJson) return Buffer.from(JSON.stringify(value), 'utf8');
  throw new SyncError(Reason.InvalidValue, `secret ${id}: JSON property "${property}" is an ${Array.isArray(value) ? 'array' : 'object'}; set asJson: true to write it as JSON text`);
}

function checkKey(key: string, id: string, what: string): void {
  if (key.length === 0 || key.length > 253 || !VALID_KEY.test(key)) {
    throw new SyncError(Reason.InvalidKey, `secret ${id}: ${what} gives key "${key.slice(0, 64)}", which is not a valid Secret key`);
  }
  // Valid for the apiserver, but @kubernetes/client-node's serialiser builds maps by assignment
  // and would drop it silently: refuse it rather than write a Secret without it.
  if (key === '__proto__') {
    throw new SyncError(Reason.InvalidKey, `secret ${id}: ${what} gives key "__proto__", which this operator cannot write`);
  }
}
