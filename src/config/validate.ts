/**
 * The one way configuration is validated: zod schema, every issue reported with its full option path
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

/** EA_CONFIG_INVALID with every problem zod found, each as `path.to.option: message`. */
export class ConfigInvalidError extends EnvoyAuditError {
  readonly issues: readonly string[]

  constructor(issues: readonly string[]) {
    // The message lists them all: a config with three mistakes should not take three runs to fix.
    super('EA_CONFIG_INVALID', issues.join('; '))
    this.issues = issues
  }
}

/** Every issue as `prefix.path.to.option: message`, in zod's order. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string[] {
  return issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.')
    return `${path === '' ? '(root)' : path}: ${issue.message}`
  })
}

/** Parses `input` with `schema`; throws EA_CONFIG_INVALID naming `prefix.path.to.option` for every issue. Not frozen. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const parsed = schema.safeParse(input ?? {})
  if (!parsed.success)
    throw new ConfigInvalidError(
      parsed.error.issues.length === 0
        ? [`${prefix === '' ? '(root)' : prefix}: invalid value`]
        : formatIssues(parsed.error.issues, prefix),
    )
  return parsed.data
}

/** parseConfig, then deep-frozen. */
export function loadConfigSection<S extends z.ZodType>(schema: S, input: unknown, prefix: string): Readonly<z.output<S>> {
  return deepFreeze(parseConfig(schema, input, prefix))
}
