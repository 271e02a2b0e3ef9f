import { describe, expect, test } from 'vitest'
import { ERROR_CODES, EnvoyAuditError, errorCodeOf, isRetryable } from '../src/errors.js'

describe('error catalogue', () => {
  test('codes are unique, prefixed, and each has a description', () => {
    const codes = Object.keys(ERROR_CODES)
    expect(new Set(codes).size).toBe(codes.length)
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^EA_[A-Z0-9_]+$/)
      expect(spec.description.length).toBeGreaterThan(10)
    }
  })

  test('sink availability problems are retryable, mapping errors are permanent', () => {
    expect(isRetryable(new EnvoyAuditError('EA_SINK_UNAVAILABLE', 'down'))).toBe(true)
    expect(isRetryable(new EnvoyAuditError('EA_SINK_ITEM_RETRYABLE', '429'))).toBe(true)
    expect(isRetryable(new EnvoyAuditError('EA_SINK_MAPPING', 'mapper_parsing_exception'))).toBe(false)
    expect(isRetryable(new Error('plain'))).toBe(false)
  })

  test('the raiser can override the default and the stage follows the code', () => {
    const e = new EnvoyAuditError('EA_SINK_MAPPING', 'x', { retryable: true, cause: new Error('c') })
    expect(e.retryable).toBe(true)
    expect(e.stage).toBe('sink')
    expect(e.cause).toBeInstanceOf(Error)
    expect(errorCodeOf(e)).toBe('EA_SINK_MAPPING')
    expect(errorCodeOf(new TypeError('bug'))).toBe('EA_TRANSFORM_FAILED')
  })
})
