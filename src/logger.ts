import { type Logger, pino } from 'pino';

export type { Logger };

/** Keys whose values must never reach a log line. */
const redactPaths = [
  'token',
  'apiKey',
  'password',
  'secret',
  'authorization',
  '*.token',
  '*.apiKey',
  '*.password',
  '*.secret',
  '*.authorization',
  'headers.authorization',
  'config.telegram.token',
  'config.llm.apiKey',
];

/** Structured logs to stderr, so stdout stays free for CLI output and the console chat. */
export function createLogger(level: string, name = 'voronka'): Logger {
  return pino({ name, level, redact: { paths: redactPaths, censor: '[redacted]' } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
