// pino JSON logs. Values never reach the logger by design; redaction is the safety net for
// fields that could carry one if a future change passed a whole object.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export const REDACT_PATHS = [
  'secretString', '*.secretString', 'SecretString', '*.SecretString',
  'secretBinary', '*.secretBinary', 'SecretBinary', '*.SecretBinary',
  'data', '*.data', 'stringData', '*.stringData',
  'value', '*.value', 'externalId', '*.externalId', 'ExternalId', '*.ExternalId',
  'token', '*.token', 'credentials', '*.credentials', 'Credentials', '*.Credentials',
  'headers.authorization', '*.headers.authorization',
];

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { component: 'external-llm-secrets' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}
