import { describe, test } from 'vitest'
import fc from 'fast-check'
import { batchArb, checkBatch } from '../drill/fuzz-pipeline.js'

/**
 * Bounded: the parser alone is fuzzed in test/parse/robustness.test.ts; this is the whole path with
 * redaction first and the integrity hash last (what the service runs). The long run is `npm run drill`.
 */
describe('full record path under structure-aware fuzzing', () => {
  test('never throws, one output per record, schema-valid outputs, hash of stored JSON, no prototype pollution', async () => {
    await fc.assert(fc.asyncProperty(batchArb, checkBatch), { numRuns: 400 })
  }, 60_000)
})
