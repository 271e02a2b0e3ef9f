import { pino, type Logger } from 'pino'

/**
 * Structured JSON logs (pino). Secrets never reach a log line: known secret-bearing keys are redacted
 * at any depth pino can address, and components log counts and states, never records.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'sasl.password',
  '*.sasl.password',
  'token',
  '*.token',
  '*.*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'key',
  '*.key',
  'secretAccessKey',
  '*.secretAccessKey',
] as const

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'envoy-audit',
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  )
}
