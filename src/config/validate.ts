/**
 * The one way configuration is validated: zod schema, first issue reported with its full option path
 * (`sink.opensearch.flushBytes: ...`), result deep-frozen so nothing mutates config at run time.
 */
import type { z } from 'zod'
import { EnvoyAuditError } from '../errors.js'

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v)
  }
  return value
}

/** Parses `input` with `schema`; throws EA_CONFIG_INVALID naming `prefix.path.to.option`. Not frozen. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const parsed = schema.safeParse(input ?? {})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = [prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== '').join('.')
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `${path === '' ? '(root)' : path}: ${issue?.message ?? 'invalid value'}`)
  }
  return parsed.data
}

/** parseConfig, then deep-frozen. */
export function loadConfigSection<S extends z.ZodType>(schema: S, input: unknown, prefix: string): Readonly<z.output<S>> {
  return deepFreeze(parseConfig(schema, input, prefix))
}
