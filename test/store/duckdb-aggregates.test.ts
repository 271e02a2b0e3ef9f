import { describe, expect, it } from 'vitest'
import { DENIAL_CODES_IN, DENIAL_CODES_LIST, DENIED, DENIED_LINE, EGRESS, UNREACHED_FLAGS_LIST } from '../../src/store/duckdb-aggregates.js'

// The lists come from src/detect/catalogue.ts; DuckDB reads them as sets (list_has_any, IN), so their order is free.
describe('SQL built from the catalogue', () => {
  const codes = "'plaintext_rejected', 'egress_blocked', 'authz_denied', 'ext_authz_denied'"

  it('renders the sets as SQL lists and IN tuples', () => {
    expect(DENIAL_CODES_LIST).toBe(`[${codes}]`)
    expect(DENIAL_CODES_IN).toBe(`(${codes})`)
    expect(UNREACHED_FLAGS_LIST).toBe("['NR', 'UH', 'UF', 'UO', 'NC', 'URX', 'DPE']")
  })

  it('DENIED, DENIED_LINE and EGRESS keep their shape', () => {
    expect(DENIED).toBe(`(action IN ('denied', 'rejected') OR rbac_policy IS NOT NULL
  OR list_has_any(coalesce(finding_codes, []::VARCHAR[]), [${codes}]))`)
    expect(DENIED_LINE).toBe(`(action IN ('denied', 'rejected') OR rbac_policy IS NOT NULL
  OR (finding_codes IS NOT NULL AND list_has_any(finding_codes, [${codes}])))`)
    expect(EGRESS).toBe(`(upstream_cluster IN ('PassthroughCluster', 'BlackHoleCluster')
  OR list_has_any(coalesce(finding_codes, []::VARCHAR[]), ['unregistered_egress', 'egress_blocked']))`)
  })
})
