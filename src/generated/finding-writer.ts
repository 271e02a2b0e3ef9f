/* Generated from schemas/*.schema.json by `npm run generate`. Do not edit. */
import type { AuditEvent } from './types.js'
import { ascii, BAIL, type DocumentBytes } from '../schema/document-bytes.js'
import { eventNamespace } from '../schema/event-namespace.js'

type O = Record<string, unknown>

const K0 = ascii("{\"@timestamp\":")
const K1 = ascii(",\"event\":")
const K2 = ascii("{\"id\":")
const K3 = ascii(",\"action\":")
const K4 = ascii(",\"outcome\":")
const K5 = ascii(",\"finding\":")
const K6 = ascii("{\"code\":")
const K7 = ascii(",\"severity\":")
const K8 = ascii(",\"controls\":")
const K9 = ascii(",\"message\":")
const K10 = ascii(",\"policy\":")
const K11 = ascii(",\"index\":")
const K12 = ascii(",\"namespace\":")
const K13 = ascii(",\"source\":")
const K14 = ascii("{\"ip\":")
const K15 = ascii(",\"port\":")
const K16 = ascii("{\"port\":")
const K17 = ascii(",\"destination\":")
const K18 = ascii(",\"address\":")
const K19 = ascii("{\"address\":")
const K20 = ascii(",\"domain\":")
const K21 = ascii("{\"domain\":")
const K22 = ascii(",\"http\":")
const K23 = ascii("{\"request\":")
const K24 = ascii("{\"method\":")
const K25 = ascii(",\"response\":")
const K26 = ascii("{\"response\":")
const K27 = ascii("{\"status_code\":")
const K28 = ascii(",\"mesh\":")
const K29 = ascii("{\"reporter\":")
const K30 = ascii(",\"upstream_cluster\":")
const K31 = ascii("{\"upstream_cluster\":")
const K32 = ascii("{\"source\":")
const K33 = ascii("{\"spiffe_id\":")
const K34 = ascii(",\"trust_domain\":")
const K35 = ascii("{\"trust_domain\":")
const K36 = ascii("{\"namespace\":")
const K37 = ascii(",\"service_account\":")
const K38 = ascii("{\"service_account\":")
const K39 = ascii(",\"workload\":")
const K40 = ascii("{\"workload\":")
const K41 = ascii("{\"destination\":")
const K42 = ascii("{\"service\":")
const K43 = ascii(",\"spiffe_id\":")
const K44 = ascii(",\"kubernetes\":")
const K45 = ascii(",\"pod\":")
const K46 = ascii("{\"pod\":")

/** An object the event must have, read as `e.event.id` reads it: anything else is left to the serializer. */
function must(v: unknown): O {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw BAIL
  return v as O
}

/** An object the event may have, read as `e.mesh?.source` reads it: undefined or null is absent. */
function may(v: unknown): O | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) throw BAIL
  return v as O
}

/**
 * Writes the findings-index document of the event's finding at `index` into `w` as the compiled
 * serializer writes `findingDocuments(e)[index]`, and returns true; or returns false (with `w` back at
 * the document's start, DocumentBytes#begin) where it leaves the document to them.
 */
export function writeFindingDocument(w: DocumentBytes, e: AuditEvent, index: number): boolean {
  try {
    const o = e as unknown as O
    const p0 = must(o["event"])
    const p1 = must(o["audit"])
    const findings = p1['findings']
    if (!Array.isArray(findings)) throw BAIL
    const p2 = must(findings[index])
    const p3 = must(o["envoy"])
    const p4 = may(o["source"])
    const p5 = may(o["destination"])
    const p6 = may(o["http"])
    const p7 = may(p6?.["request"])
    const p8 = may(p6?.["response"])
    const p9 = may(o["mesh"])
    const p10 = may(p9?.["source"])
    const p11 = may(p9?.["destination"])
    const p12 = may(o["kubernetes"])
    const v0 = o["@timestamp"]
    const v1 = p0?.["id"]
    const v2 = p0?.["action"]
    const v3 = p0?.["outcome"]
    const v4 = p2?.["code"]
    const v5 = p2?.["severity"]
    const v6 = p2?.["controls"]
    if (v6 !== undefined && (!Array.isArray(v6) || v6.length >= 128)) throw BAIL
    const v7 = p2?.["message"]
    const v8 = p2?.["policy"] ?? p3?.["rbac_policy"]
    const v9 = index
    const v10 = eventNamespace(e)
    const v11 = p4?.["ip"]
    const v12 = p4?.["port"]
    const v13 = p5?.["ip"]
    const v14 = p5?.["port"]
    const v15 = p5?.["address"]
    const v16 = p5?.["domain"]
    const v17 = p7?.["method"]
    const v18 = p8?.["status_code"]
    const v19 = p9?.["reporter"]
    const v20 = p9?.["upstream_cluster"]
    const v21 = p10?.["spiffe_id"]
    const v22 = p10?.["trust_domain"]
    const v23 = p10?.["namespace"]
    const v24 = p10?.["service_account"]
    const v25 = p10?.["workload"]
    const v26 = p11?.["service"]
    const v27 = p11?.["namespace"]
    const v28 = p11?.["spiffe_id"]
    const v29 = p11?.["service_account"]
    const v30 = p11?.["workload"]
    const v31 = p12?.["namespace"]
    const v32 = p12?.["pod"]
    if (!(v0 !== undefined)) throw BAIL
    if (!(v1 !== undefined || v2 !== undefined || v3 !== undefined)) throw BAIL
    if ((v1 !== undefined || v2 !== undefined || v3 !== undefined) && !(v1 !== undefined)) throw BAIL
    if (!(v4 !== undefined || v5 !== undefined || v6 !== undefined || v7 !== undefined || v8 !== undefined || v9 !== undefined)) throw BAIL
    if ((v4 !== undefined || v5 !== undefined || v6 !== undefined || v7 !== undefined || v8 !== undefined || v9 !== undefined) && !(v4 !== undefined)) throw BAIL
    if ((v4 !== undefined || v5 !== undefined || v6 !== undefined || v7 !== undefined || v8 !== undefined || v9 !== undefined) && !(v5 !== undefined)) throw BAIL
    if ((v4 !== undefined || v5 !== undefined || v6 !== undefined || v7 !== undefined || v8 !== undefined || v9 !== undefined) && !(v6 !== undefined)) throw BAIL
    // the document
    w.raw(K0)
    w.str(v0)
    w.raw(K1)
    // event
    w.raw(K2)
    w.str(v1)
    if (v2 !== undefined) {
      w.raw(K3)
      w.str(v2)
    }
    if (v3 !== undefined) {
      w.raw(K4)
      w.str(v3)
    }
    w.byte(0x7d)
    w.raw(K5)
    // finding
    w.raw(K6)
    w.str(v4)
    w.raw(K7)
    w.str(v5)
    w.raw(K8)
    w.byte(0x5b)
    for (let i = 0; i < (v6 as unknown[]).length; i++) {
      if (i > 0) w.byte(0x2c)
      w.str((v6 as unknown[])[i])
    }
    w.byte(0x5d)
    if (v7 !== undefined) {
      w.raw(K9)
      w.str(v7)
    }
    if (v8 !== undefined) {
      w.raw(K10)
      w.str(v8)
    }
    if (v9 !== undefined) {
      w.raw(K11)
      w.int(v9)
    }
    w.byte(0x7d)
    if (v10 !== undefined) {
      w.raw(K12)
      w.str(v10)
    }
    if (v11 !== undefined || v12 !== undefined) {
      w.raw(K13)
      // source
      if (v11 !== undefined) {
        w.raw(K14)
        w.str(v11)
      }
      let any3 = v11 !== undefined
      if (v12 !== undefined) {
        w.raw(any3 ? K15 : K16)
        w.int(v12)
      }
      w.byte(0x7d)
    }
    if (v13 !== undefined || v14 !== undefined || v15 !== undefined || v16 !== undefined) {
      w.raw(K17)
      // destination
      if (v13 !== undefined) {
        w.raw(K14)
        w.str(v13)
      }
      let any4 = v13 !== undefined
      if (v14 !== undefined) {
        w.raw(any4 ? K15 : K16)
        any4 = true
        w.int(v14)
      }
      if (v15 !== undefined) {
        w.raw(any4 ? K18 : K19)
        any4 = true
        w.str(v15)
      }
      if (v16 !== undefined) {
        w.raw(any4 ? K20 : K21)
        w.str(v16)
      }
      w.byte(0x7d)
    }
    if (v17 !== undefined || v18 !== undefined) {
      w.raw(K22)
      // http
      if (v17 !== undefined) {
        w.raw(K23)
        // http.request
        w.raw(K24)
        w.str(v17)
        w.byte(0x7d)
      }
      let any5 = v17 !== undefined
      if (v18 !== undefined) {
        w.raw(any5 ? K25 : K26)
        // http.response
        w.raw(K27)
        w.int(v18)
        w.byte(0x7d)
      }
      w.byte(0x7d)
    }
    if (v19 !== undefined || v20 !== undefined || v21 !== undefined || v22 !== undefined || v23 !== undefined || v24 !== undefined || v25 !== undefined || v26 !== undefined || v27 !== undefined || v28 !== undefined || v29 !== undefined || v30 !== undefined) {
      w.raw(K28)
      // mesh
      if (v19 !== undefined) {
        w.raw(K29)
        w.str(v19)
      }
      let any8 = v19 !== undefined
      if (v20 !== undefined) {
        w.raw(any8 ? K30 : K31)
        any8 = true
        w.str(v20)
      }
      if (v21 !== undefined || v22 !== undefined || v23 !== undefined || v24 !== undefined || v25 !== undefined) {
        w.raw(any8 ? K13 : K32)
        any8 = true
        // mesh.source
        if (v21 !== undefined) {
          w.raw(K33)
          w.str(v21)
        }
        let any9 = v21 !== undefined
        if (v22 !== undefined) {
          w.raw(any9 ? K34 : K35)
          any9 = true
          w.str(v22)
        }
        if (v23 !== undefined) {
          w.raw(any9 ? K12 : K36)
          any9 = true
          w.str(v23)
        }
        if (v24 !== undefined) {
          w.raw(any9 ? K37 : K38)
          any9 = true
          w.str(v24)
        }
        if (v25 !== undefined) {
          w.raw(any9 ? K39 : K40)
          w.str(v25)
        }
        w.byte(0x7d)
      }
      if (v26 !== undefined || v27 !== undefined || v28 !== undefined || v29 !== undefined || v30 !== undefined) {
        w.raw(any8 ? K17 : K41)
        // mesh.destination
        if (v26 !== undefined) {
          w.raw(K42)
          w.str(v26)
        }
        let any10 = v26 !== undefined
        if (v27 !== undefined) {
          w.raw(any10 ? K12 : K36)
          any10 = true
          w.str(v27)
        }
        if (v28 !== undefined) {
          w.raw(any10 ? K43 : K33)
          any10 = true
          w.str(v28)
        }
        if (v29 !== undefined) {
          w.raw(any10 ? K37 : K38)
          any10 = true
          w.str(v29)
        }
        if (v30 !== undefined) {
          w.raw(any10 ? K39 : K40)
          w.str(v30)
        }
        w.byte(0x7d)
      }
      w.byte(0x7d)
    }
    if (v31 !== undefined || v32 !== undefined) {
      w.raw(K44)
      // kubernetes
      if (v31 !== undefined) {
        w.raw(K36)
        w.str(v31)
      }
      let any11 = v31 !== undefined
      if (v32 !== undefined) {
        w.raw(any11 ? K45 : K46)
        w.str(v32)
      }
      w.byte(0x7d)
    }
    w.byte(0x7d)
    return true
  } catch (err) {
    if (err !== BAIL) throw err
    w.abandon()
    return false
  }
}
