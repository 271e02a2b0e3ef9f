import { describe, expect, it } from 'vitest'
import { DENIAL_FINDING_CODES, EGRESS_FINDING_CODES, FINDING_CATALOGUE, UNREACHED_RESPONSE_FLAGS } from '../../src/detect/catalogue.js'

// The store and hunt queries read these sets from the catalogue: a change here changes what every report,
// `flows` and `hunt` count as a denial, so it must be deliberate.
describe('catalogue domain sets', () => {
  it('denial codes are the four refusals of the mesh', () => {
    expect([...DENIAL_FINDING_CODES].sort()).toEqual(['authz_denied', 'egress_blocked', 'ext_authz_denied', 'plaintext_rejected'])
  })

  it('egress codes are the passthrough and the black hole', () => {
    expect([...EGRESS_FINDING_CODES].sort()).toEqual(['egress_blocked', 'unregistered_egress'])
  })

  it('every listed code is in the catalogue with the attribute set', () => {
    for (const code of DENIAL_FINDING_CODES) expect((FINDING_CATALOGUE[code] as { denial?: true }).denial).toBe(true)
    for (const code of EGRESS_FINDING_CODES) expect((FINDING_CATALOGUE[code] as { egress?: true }).egress).toBe(true)
  })

  it('unreached response flags are the local replies that never reached the app', () => {
    expect([...UNREACHED_RESPONSE_FLAGS]).toEqual(['NR', 'UH', 'UF', 'UO', 'NC', 'URX', 'DPE'])
  })
})
