/* Generated from schemas/*.schema.json by `npm run generate`. Do not edit. */
import type { AuditEvent } from './types.js'
import { ascii, BAIL, type DocumentBytes } from '../schema/document-bytes.js'

type O = Record<string, unknown>

const K0 = ascii("{\"@timestamp\":")
const K1 = ascii(",\"@timestamp\":")
const K2 = ascii("{\"event\":")
const K3 = ascii(",\"event\":")
const K4 = ascii("{\"id\":")
const K5 = ascii(",\"id\":")
const K6 = ascii("{\"kind\":")
const K7 = ascii(",\"kind\":")
const K8 = ascii("{\"dataset\":")
const K9 = ascii(",\"dataset\":")
const K10 = ascii("{\"outcome\":")
const K11 = ascii(",\"outcome\":")
const K12 = ascii("{\"category\":")
const K13 = ascii(",\"category\":")
const K14 = ascii("{\"type\":")
const K15 = ascii(",\"type\":")
const K16 = ascii("{\"action\":")
const K17 = ascii(",\"action\":")
const K18 = ascii("{\"duration\":")
const K19 = ascii(",\"duration\":")
const K20 = ascii("{\"original\":")
const K21 = ascii(",\"original\":")
const K22 = ascii("{\"hash\":")
const K23 = ascii(",\"hash\":")
const K24 = ascii("{\"ingested\":")
const K25 = ascii(",\"ingested\":")
const K26 = ascii("{\"created\":")
const K27 = ascii(",\"created\":")
const K28 = ascii("{\"network\":")
const K29 = ascii(",\"network\":")
const K30 = ascii("{\"protocol\":")
const K31 = ascii(",\"protocol\":")
const K32 = ascii("{\"transport\":")
const K33 = ascii(",\"transport\":")
const K34 = ascii("{\"direction\":")
const K35 = ascii(",\"direction\":")
const K36 = ascii("{\"http\":")
const K37 = ascii(",\"http\":")
const K38 = ascii("{\"version\":")
const K39 = ascii(",\"version\":")
const K40 = ascii("{\"request\":")
const K41 = ascii(",\"request\":")
const K42 = ascii("{\"method\":")
const K43 = ascii(",\"method\":")
const K44 = ascii("{\"bytes\":")
const K45 = ascii(",\"bytes\":")
const K46 = ascii("{\"response\":")
const K47 = ascii(",\"response\":")
const K48 = ascii("{\"status_code\":")
const K49 = ascii(",\"status_code\":")
const K50 = ascii("{\"url\":")
const K51 = ascii(",\"url\":")
const K52 = ascii("{\"path\":")
const K53 = ascii(",\"path\":")
const K54 = ascii("{\"query\":")
const K55 = ascii(",\"query\":")
const K56 = ascii("{\"domain\":")
const K57 = ascii(",\"domain\":")
const K58 = ascii("{\"user_agent\":")
const K59 = ascii(",\"user_agent\":")
const K60 = ascii("{\"source\":")
const K61 = ascii(",\"source\":")
const K62 = ascii("{\"ip\":")
const K63 = ascii(",\"ip\":")
const K64 = ascii("{\"port\":")
const K65 = ascii(",\"port\":")
const K66 = ascii("{\"address\":")
const K67 = ascii(",\"address\":")
const K68 = ascii("{\"destination\":")
const K69 = ascii(",\"destination\":")
const K70 = ascii("{\"tls\":")
const K71 = ascii(",\"tls\":")
const K72 = ascii("{\"established\":")
const K73 = ascii(",\"established\":")
const K74 = ascii("{\"version_protocol\":")
const K75 = ascii(",\"version_protocol\":")
const K76 = ascii("{\"cipher\":")
const K77 = ascii(",\"cipher\":")
const K78 = ascii("{\"client\":")
const K79 = ascii(",\"client\":")
const K80 = ascii("{\"server_name\":")
const K81 = ascii(",\"server_name\":")
const K82 = ascii("{\"mesh\":")
const K83 = ascii(",\"mesh\":")
const K84 = ascii("{\"reporter\":")
const K85 = ascii(",\"reporter\":")
const K86 = ascii("{\"upstream_cluster\":")
const K87 = ascii(",\"upstream_cluster\":")
const K88 = ascii("{\"route_name\":")
const K89 = ascii(",\"route_name\":")
const K90 = ascii("{\"mtls\":")
const K91 = ascii(",\"mtls\":")
const K92 = ascii("{\"spiffe_id\":")
const K93 = ascii(",\"spiffe_id\":")
const K94 = ascii("{\"trust_domain\":")
const K95 = ascii(",\"trust_domain\":")
const K96 = ascii("{\"namespace\":")
const K97 = ascii(",\"namespace\":")
const K98 = ascii("{\"service_account\":")
const K99 = ascii(",\"service_account\":")
const K100 = ascii("{\"workload\":")
const K101 = ascii(",\"workload\":")
const K102 = ascii("{\"signal\":")
const K103 = ascii(",\"signal\":")
const K104 = ascii("{\"cluster\":")
const K105 = ascii(",\"cluster\":")
const K106 = ascii("{\"service\":")
const K107 = ascii(",\"service\":")
const K108 = ascii("{\"subset\":")
const K109 = ascii(",\"subset\":")
const K110 = ascii("{\"envoy\":")
const K111 = ascii(",\"envoy\":")
const K112 = ascii("{\"format\":")
const K113 = ascii(",\"format\":")
const K114 = ascii("{\"response_flags\":")
const K115 = ascii(",\"response_flags\":")
const K116 = ascii("{\"response_code_details\":")
const K117 = ascii(",\"response_code_details\":")
const K118 = ascii("{\"connection_termination_details\":")
const K119 = ascii(",\"connection_termination_details\":")
const K120 = ascii("{\"upstream_transport_failure_reason\":")
const K121 = ascii(",\"upstream_transport_failure_reason\":")
const K122 = ascii("{\"upstream_host\":")
const K123 = ascii(",\"upstream_host\":")
const K124 = ascii("{\"upstream_local_address\":")
const K125 = ascii(",\"upstream_local_address\":")
const K126 = ascii("{\"downstream_local_address\":")
const K127 = ascii(",\"downstream_local_address\":")
const K128 = ascii("{\"downstream_remote_address\":")
const K129 = ascii(",\"downstream_remote_address\":")
const K130 = ascii("{\"upstream_service_time\":")
const K131 = ascii(",\"upstream_service_time\":")
const K132 = ascii("{\"x_forwarded_for\":")
const K133 = ascii(",\"x_forwarded_for\":")
const K134 = ascii("{\"connection_id\":")
const K135 = ascii(",\"connection_id\":")
const K136 = ascii("{\"authority\":")
const K137 = ascii(",\"authority\":")
const K138 = ascii("{\"requested_server_name\":")
const K139 = ascii(",\"requested_server_name\":")
const K140 = ascii("{\"rbac_policy\":")
const K141 = ascii(",\"rbac_policy\":")
const K142 = ascii("{\"peer\":")
const K143 = ascii(",\"peer\":")
const K144 = ascii("{\"downstream_uri_san\":")
const K145 = ascii(",\"downstream_uri_san\":")
const K146 = ascii("{\"downstream_local_uri_san\":")
const K147 = ascii(",\"downstream_local_uri_san\":")
const K148 = ascii("{\"downstream_subject\":")
const K149 = ascii(",\"downstream_subject\":")
const K150 = ascii("{\"upstream_uri_san\":")
const K151 = ascii(",\"upstream_uri_san\":")
const K152 = ascii("{\"upstream_tls_version\":")
const K153 = ascii(",\"upstream_tls_version\":")
const K154 = ascii("{\"upstream_tls_cipher\":")
const K155 = ascii(",\"upstream_tls_cipher\":")
const K156 = ascii("{\"ztunnel\":")
const K157 = ascii(",\"ztunnel\":")
const K158 = ascii("{\"message\":")
const K159 = ascii(",\"message\":")
const K160 = ascii("{\"level\":")
const K161 = ascii(",\"level\":")
const K162 = ascii("{\"src_addr\":")
const K163 = ascii(",\"src_addr\":")
const K164 = ascii("{\"src_workload\":")
const K165 = ascii(",\"src_workload\":")
const K166 = ascii("{\"src_namespace\":")
const K167 = ascii(",\"src_namespace\":")
const K168 = ascii("{\"src_identity\":")
const K169 = ascii(",\"src_identity\":")
const K170 = ascii("{\"dst_addr\":")
const K171 = ascii(",\"dst_addr\":")
const K172 = ascii("{\"dst_hbone_addr\":")
const K173 = ascii(",\"dst_hbone_addr\":")
const K174 = ascii("{\"dst_service\":")
const K175 = ascii(",\"dst_service\":")
const K176 = ascii("{\"dst_workload\":")
const K177 = ascii(",\"dst_workload\":")
const K178 = ascii("{\"dst_namespace\":")
const K179 = ascii(",\"dst_namespace\":")
const K180 = ascii("{\"dst_identity\":")
const K181 = ascii(",\"dst_identity\":")
const K182 = ascii("{\"bytes_sent\":")
const K183 = ascii(",\"bytes_sent\":")
const K184 = ascii("{\"bytes_recv\":")
const K185 = ascii(",\"bytes_recv\":")
const K186 = ascii("{\"error\":")
const K187 = ascii(",\"error\":")
const K188 = ascii("{\"policy\":")
const K189 = ascii(",\"policy\":")
const K190 = ascii("{\"kubernetes\":")
const K191 = ascii(",\"kubernetes\":")
const K192 = ascii("{\"pod\":")
const K193 = ascii(",\"pod\":")
const K194 = ascii("{\"container\":")
const K195 = ascii(",\"container\":")
const K196 = ascii("{\"node\":")
const K197 = ascii(",\"node\":")
const K198 = ascii("{\"labels\":")
const K199 = ascii(",\"labels\":")
const K200 = ascii("{\"orchestrator\":")
const K201 = ascii(",\"orchestrator\":")
const K202 = ascii("{\"name\":")
const K203 = ascii(",\"name\":")
const K204 = ascii("{\"audit\":")
const K205 = ascii(",\"audit\":")
const K206 = ascii("{\"file\":")
const K207 = ascii(",\"file\":")
const K208 = ascii("{\"line\":")
const K209 = ascii(",\"line\":")
const K210 = ascii("{\"offset\":")
const K211 = ascii(",\"offset\":")
const K212 = ascii("{\"topic\":")
const K213 = ascii(",\"topic\":")
const K214 = ascii("{\"partition\":")
const K215 = ascii(",\"partition\":")
const K216 = ascii("{\"time_source\":")
const K217 = ascii(",\"time_source\":")
const K218 = ascii("{\"au3\":")
const K219 = ascii(",\"au3\":")
const K220 = ascii("{\"complete\":")
const K221 = ascii(",\"complete\":")
const K222 = ascii("{\"missing\":")
const K223 = ascii(",\"missing\":")
const K224 = ascii("{\"extras_missing\":")
const K225 = ascii(",\"extras_missing\":")
const K226 = ascii("{\"findings\":")
const K227 = ascii(",\"findings\":")
const K228 = ascii("{\"code\":")
const K229 = ascii(",\"code\":")
const K230 = ascii("{\"severity\":")
const K231 = ascii(",\"severity\":")
const K232 = ascii("{\"controls\":")
const K233 = ascii(",\"controls\":")
const K234 = ascii("{\"finding_codes\":")
const K235 = ascii(",\"finding_codes\":")
const K236 = ascii("{\"redactions\":")
const K237 = ascii(",\"redactions\":")

// Read by the members audit.hash leaves out; set per call (the writer is synchronous).
let leaveOutUnhashed = false

// event.category
function a2(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// event.type
function a3(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// event
function o1(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["id"]
  if (x === undefined) throw BAIL
  w.raw(K4)
  w.str(x)
  any = true
  x = o["kind"]
  if (x === undefined) throw BAIL
  w.raw(K7)
  w.str(x)
  x = o["dataset"]
  if (x === undefined) throw BAIL
  w.raw(K9)
  w.str(x)
  x = o["outcome"]
  if (x === undefined) throw BAIL
  w.raw(K11)
  w.str(x)
  x = o["category"]
  if (x !== undefined) {
    w.raw(K13)
    a2(w, x)
  }
  x = o["type"]
  if (x !== undefined) {
    w.raw(K15)
    a3(w, x)
  }
  x = o["action"]
  if (x !== undefined) {
    w.raw(K17)
    w.str(x)
  }
  x = o["duration"]
  if (x !== undefined) {
    w.raw(K19)
    w.int(x)
  }
  x = o["original"]
  if (x !== undefined) {
    w.raw(K21)
    w.str(x)
  }
  x = o["hash"]
  if (x !== undefined) {
    w.raw(K23)
    w.str(x)
  }
  x = o["ingested"]
  if (x !== undefined && !leaveOutUnhashed) {
    w.raw(K25)
    w.str(x)
  }
  x = o["created"]
  if (x !== undefined && !leaveOutUnhashed) {
    w.raw(K27)
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// network
function o4(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["protocol"]
  if (x !== undefined) {
    w.raw(any ? K31 : K30)
    any = true
    w.str(x)
  }
  x = o["transport"]
  if (x !== undefined) {
    w.raw(any ? K33 : K32)
    any = true
    w.str(x)
  }
  x = o["direction"]
  if (x !== undefined) {
    w.raw(any ? K35 : K34)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// http.request
function o6(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["method"]
  if (x !== undefined) {
    w.raw(any ? K43 : K42)
    any = true
    w.str(x)
  }
  x = o["id"]
  if (x !== undefined) {
    w.raw(any ? K5 : K4)
    any = true
    w.str(x)
  }
  x = o["bytes"]
  if (x !== undefined) {
    w.raw(any ? K45 : K44)
    any = true
    w.int(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// http.response
function o7(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["status_code"]
  if (x !== undefined) {
    w.raw(any ? K49 : K48)
    any = true
    w.int(x)
  }
  x = o["bytes"]
  if (x !== undefined) {
    w.raw(any ? K45 : K44)
    any = true
    w.int(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// http
function o5(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["version"]
  if (x !== undefined) {
    w.raw(any ? K39 : K38)
    any = true
    w.str(x)
  }
  x = o["request"]
  if (x !== undefined) {
    w.raw(any ? K41 : K40)
    any = true
    o6(w, x)
  }
  x = o["response"]
  if (x !== undefined) {
    w.raw(any ? K47 : K46)
    any = true
    o7(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// url
function o8(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["path"]
  if (x !== undefined) {
    w.raw(any ? K53 : K52)
    any = true
    w.str(x)
  }
  x = o["query"]
  if (x !== undefined) {
    w.raw(any ? K55 : K54)
    any = true
    w.str(x)
  }
  x = o["domain"]
  if (x !== undefined) {
    w.raw(any ? K57 : K56)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// user_agent
function o9(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["original"]
  if (x !== undefined) {
    w.raw(any ? K21 : K20)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// source
function o10(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["ip"]
  if (x !== undefined) {
    w.raw(any ? K63 : K62)
    any = true
    w.str(x)
  }
  x = o["port"]
  if (x !== undefined) {
    w.raw(any ? K65 : K64)
    any = true
    w.int(x)
  }
  x = o["address"]
  if (x !== undefined) {
    w.raw(any ? K67 : K66)
    any = true
    w.str(x)
  }
  x = o["bytes"]
  if (x !== undefined) {
    w.raw(any ? K45 : K44)
    any = true
    w.int(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// destination
function o11(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["ip"]
  if (x !== undefined) {
    w.raw(any ? K63 : K62)
    any = true
    w.str(x)
  }
  x = o["port"]
  if (x !== undefined) {
    w.raw(any ? K65 : K64)
    any = true
    w.int(x)
  }
  x = o["address"]
  if (x !== undefined) {
    w.raw(any ? K67 : K66)
    any = true
    w.str(x)
  }
  x = o["domain"]
  if (x !== undefined) {
    w.raw(any ? K57 : K56)
    any = true
    w.str(x)
  }
  x = o["bytes"]
  if (x !== undefined) {
    w.raw(any ? K45 : K44)
    any = true
    w.int(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// tls.client
function o13(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["server_name"]
  if (x !== undefined) {
    w.raw(any ? K81 : K80)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// tls
function o12(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["established"]
  if (x !== undefined) {
    w.raw(any ? K73 : K72)
    any = true
    w.bool(x)
  }
  x = o["version"]
  if (x !== undefined) {
    w.raw(any ? K39 : K38)
    any = true
    w.str(x)
  }
  x = o["version_protocol"]
  if (x !== undefined) {
    w.raw(any ? K75 : K74)
    any = true
    w.str(x)
  }
  x = o["cipher"]
  if (x !== undefined) {
    w.raw(any ? K77 : K76)
    any = true
    w.str(x)
  }
  x = o["client"]
  if (x !== undefined) {
    w.raw(any ? K79 : K78)
    any = true
    o13(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// mesh.source
function o15(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["spiffe_id"]
  if (x !== undefined) {
    w.raw(any ? K93 : K92)
    any = true
    w.str(x)
  }
  x = o["trust_domain"]
  if (x !== undefined) {
    w.raw(any ? K95 : K94)
    any = true
    w.str(x)
  }
  x = o["namespace"]
  if (x !== undefined) {
    w.raw(any ? K97 : K96)
    any = true
    w.str(x)
  }
  x = o["service_account"]
  if (x !== undefined) {
    w.raw(any ? K99 : K98)
    any = true
    w.str(x)
  }
  x = o["workload"]
  if (x !== undefined) {
    w.raw(any ? K101 : K100)
    any = true
    w.str(x)
  }
  x = o["signal"]
  if (x !== undefined) {
    w.raw(any ? K103 : K102)
    any = true
    w.str(x)
  }
  x = o["cluster"]
  if (x !== undefined) {
    w.raw(any ? K105 : K104)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// mesh.destination
function o16(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["service"]
  if (x !== undefined) {
    w.raw(any ? K107 : K106)
    any = true
    w.str(x)
  }
  x = o["namespace"]
  if (x !== undefined) {
    w.raw(any ? K97 : K96)
    any = true
    w.str(x)
  }
  x = o["port"]
  if (x !== undefined) {
    w.raw(any ? K65 : K64)
    any = true
    w.int(x)
  }
  x = o["subset"]
  if (x !== undefined) {
    w.raw(any ? K109 : K108)
    any = true
    w.str(x)
  }
  x = o["spiffe_id"]
  if (x !== undefined) {
    w.raw(any ? K93 : K92)
    any = true
    w.str(x)
  }
  x = o["trust_domain"]
  if (x !== undefined) {
    w.raw(any ? K95 : K94)
    any = true
    w.str(x)
  }
  x = o["service_account"]
  if (x !== undefined) {
    w.raw(any ? K99 : K98)
    any = true
    w.str(x)
  }
  x = o["workload"]
  if (x !== undefined) {
    w.raw(any ? K101 : K100)
    any = true
    w.str(x)
  }
  x = o["signal"]
  if (x !== undefined) {
    w.raw(any ? K103 : K102)
    any = true
    w.str(x)
  }
  x = o["cluster"]
  if (x !== undefined) {
    w.raw(any ? K105 : K104)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// mesh
function o14(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["reporter"]
  if (x !== undefined) {
    w.raw(any ? K85 : K84)
    any = true
    w.str(x)
  }
  x = o["upstream_cluster"]
  if (x !== undefined) {
    w.raw(any ? K87 : K86)
    any = true
    w.str(x)
  }
  x = o["route_name"]
  if (x !== undefined) {
    w.raw(any ? K89 : K88)
    any = true
    w.str(x)
  }
  x = o["mtls"]
  if (x !== undefined) {
    w.raw(any ? K91 : K90)
    any = true
    w.boolOrNull(x)
  }
  x = o["source"]
  if (x !== undefined) {
    w.raw(any ? K61 : K60)
    any = true
    o15(w, x)
  }
  x = o["destination"]
  if (x !== undefined) {
    w.raw(any ? K69 : K68)
    any = true
    o16(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// envoy.response_flags
function a18(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// envoy.peer
function o19(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["downstream_uri_san"]
  if (x !== undefined) {
    w.raw(any ? K145 : K144)
    any = true
    w.str(x)
  }
  x = o["downstream_local_uri_san"]
  if (x !== undefined) {
    w.raw(any ? K147 : K146)
    any = true
    w.str(x)
  }
  x = o["downstream_subject"]
  if (x !== undefined) {
    w.raw(any ? K149 : K148)
    any = true
    w.str(x)
  }
  x = o["upstream_uri_san"]
  if (x !== undefined) {
    w.raw(any ? K151 : K150)
    any = true
    w.str(x)
  }
  x = o["upstream_tls_version"]
  if (x !== undefined) {
    w.raw(any ? K153 : K152)
    any = true
    w.str(x)
  }
  x = o["upstream_tls_cipher"]
  if (x !== undefined) {
    w.raw(any ? K155 : K154)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// envoy
function o17(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["format"]
  if (x === undefined) throw BAIL
  w.raw(K112)
  w.str(x)
  any = true
  x = o["response_flags"]
  if (x !== undefined) {
    w.raw(K115)
    a18(w, x)
  }
  x = o["response_code_details"]
  if (x !== undefined) {
    w.raw(K117)
    w.str(x)
  }
  x = o["connection_termination_details"]
  if (x !== undefined) {
    w.raw(K119)
    w.str(x)
  }
  x = o["upstream_transport_failure_reason"]
  if (x !== undefined) {
    w.raw(K121)
    w.str(x)
  }
  x = o["upstream_host"]
  if (x !== undefined) {
    w.raw(K123)
    w.str(x)
  }
  x = o["upstream_local_address"]
  if (x !== undefined) {
    w.raw(K125)
    w.str(x)
  }
  x = o["downstream_local_address"]
  if (x !== undefined) {
    w.raw(K127)
    w.str(x)
  }
  x = o["downstream_remote_address"]
  if (x !== undefined) {
    w.raw(K129)
    w.str(x)
  }
  x = o["upstream_service_time"]
  if (x !== undefined) {
    w.raw(K131)
    w.int(x)
  }
  x = o["x_forwarded_for"]
  if (x !== undefined) {
    w.raw(K133)
    w.str(x)
  }
  x = o["connection_id"]
  if (x !== undefined) {
    w.raw(K135)
    w.str(x)
  }
  x = o["authority"]
  if (x !== undefined) {
    w.raw(K137)
    w.str(x)
  }
  x = o["requested_server_name"]
  if (x !== undefined) {
    w.raw(K139)
    w.str(x)
  }
  x = o["rbac_policy"]
  if (x !== undefined) {
    w.raw(K141)
    w.str(x)
  }
  x = o["peer"]
  if (x !== undefined) {
    w.raw(K143)
    o19(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// ztunnel
function o20(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["message"]
  if (x !== undefined) {
    w.raw(any ? K159 : K158)
    any = true
    w.str(x)
  }
  x = o["level"]
  if (x !== undefined) {
    w.raw(any ? K161 : K160)
    any = true
    w.str(x)
  }
  x = o["src_addr"]
  if (x !== undefined) {
    w.raw(any ? K163 : K162)
    any = true
    w.str(x)
  }
  x = o["src_workload"]
  if (x !== undefined) {
    w.raw(any ? K165 : K164)
    any = true
    w.str(x)
  }
  x = o["src_namespace"]
  if (x !== undefined) {
    w.raw(any ? K167 : K166)
    any = true
    w.str(x)
  }
  x = o["src_identity"]
  if (x !== undefined) {
    w.raw(any ? K169 : K168)
    any = true
    w.str(x)
  }
  x = o["dst_addr"]
  if (x !== undefined) {
    w.raw(any ? K171 : K170)
    any = true
    w.str(x)
  }
  x = o["dst_hbone_addr"]
  if (x !== undefined) {
    w.raw(any ? K173 : K172)
    any = true
    w.str(x)
  }
  x = o["dst_service"]
  if (x !== undefined) {
    w.raw(any ? K175 : K174)
    any = true
    w.str(x)
  }
  x = o["dst_workload"]
  if (x !== undefined) {
    w.raw(any ? K177 : K176)
    any = true
    w.str(x)
  }
  x = o["dst_namespace"]
  if (x !== undefined) {
    w.raw(any ? K179 : K178)
    any = true
    w.str(x)
  }
  x = o["dst_identity"]
  if (x !== undefined) {
    w.raw(any ? K181 : K180)
    any = true
    w.str(x)
  }
  x = o["bytes_sent"]
  if (x !== undefined) {
    w.raw(any ? K183 : K182)
    any = true
    w.int(x)
  }
  x = o["bytes_recv"]
  if (x !== undefined) {
    w.raw(any ? K185 : K184)
    any = true
    w.int(x)
  }
  x = o["error"]
  if (x !== undefined) {
    w.raw(any ? K187 : K186)
    any = true
    w.str(x)
  }
  x = o["policy"]
  if (x !== undefined) {
    w.raw(any ? K189 : K188)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// kubernetes.labels
function o22(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  for (const k of Object.keys(o)) {
    const x = o[k]
    if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue
    w.byte(any ? 0x2c : 0x7b)
    any = true
    w.str(k)
    w.byte(0x3a)
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// kubernetes
function o21(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["namespace"]
  if (x !== undefined) {
    w.raw(any ? K97 : K96)
    any = true
    w.str(x)
  }
  x = o["pod"]
  if (x !== undefined) {
    w.raw(any ? K193 : K192)
    any = true
    w.str(x)
  }
  x = o["container"]
  if (x !== undefined) {
    w.raw(any ? K195 : K194)
    any = true
    w.str(x)
  }
  x = o["node"]
  if (x !== undefined) {
    w.raw(any ? K197 : K196)
    any = true
    w.str(x)
  }
  x = o["labels"]
  if (x !== undefined) {
    w.raw(any ? K199 : K198)
    any = true
    o22(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// orchestrator.cluster
function o24(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["name"]
  if (x !== undefined) {
    w.raw(any ? K203 : K202)
    any = true
    w.str(x)
  }
  x = o["id"]
  if (x !== undefined) {
    w.raw(any ? K5 : K4)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// orchestrator
function o23(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["type"]
  if (x !== undefined) {
    w.raw(any ? K15 : K14)
    any = true
    w.str(x)
  }
  x = o["cluster"]
  if (x !== undefined) {
    w.raw(any ? K105 : K104)
    any = true
    o24(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// audit.source
function o26(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["kind"]
  if (x !== undefined) {
    w.raw(any ? K7 : K6)
    any = true
    w.str(x)
  }
  x = o["file"]
  if (x !== undefined) {
    w.raw(any ? K207 : K206)
    any = true
    w.str(x)
  }
  x = o["line"]
  if (x !== undefined) {
    w.raw(any ? K209 : K208)
    any = true
    w.int(x)
  }
  x = o["offset"]
  if (x !== undefined) {
    w.raw(any ? K211 : K210)
    any = true
    w.str(x)
  }
  x = o["topic"]
  if (x !== undefined) {
    w.raw(any ? K213 : K212)
    any = true
    w.str(x)
  }
  x = o["partition"]
  if (x !== undefined) {
    w.raw(any ? K215 : K214)
    any = true
    w.int(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// audit.au3.missing
function a28(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// audit.au3.extras_missing
function a29(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// audit.au3
function o27(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["complete"]
  if (x !== undefined) {
    w.raw(any ? K221 : K220)
    any = true
    w.bool(x)
  }
  x = o["missing"]
  if (x !== undefined) {
    w.raw(any ? K223 : K222)
    any = true
    a28(w, x)
  }
  x = o["extras_missing"]
  if (x !== undefined) {
    w.raw(any ? K225 : K224)
    any = true
    a29(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// audit.findings[].controls
function a32(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// audit.findings[]
function o31(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["code"]
  if (x === undefined) throw BAIL
  w.raw(K228)
  w.str(x)
  any = true
  x = o["severity"]
  if (x === undefined) throw BAIL
  w.raw(K231)
  w.str(x)
  x = o["controls"]
  if (x === undefined) throw BAIL
  w.raw(K233)
  a32(w, x)
  x = o["message"]
  if (x === undefined) throw BAIL
  w.raw(K159)
  w.str(x)
  x = o["policy"]
  if (x !== undefined) {
    w.raw(K189)
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// audit.findings
function a30(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    o31(w, v[i])
  }
  w.byte(0x5d)
}

// audit.finding_codes
function a33(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// audit.controls
function a34(w: DocumentBytes, v: unknown): void {
  if (!Array.isArray(v) || v.length >= 128) throw BAIL
  w.byte(0x5b)
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c)
    w.str(v[i])
  }
  w.byte(0x5d)
}

// audit
function o25(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["source"]
  if (x !== undefined) {
    w.raw(any ? K61 : K60)
    any = true
    o26(w, x)
  }
  x = o["time_source"]
  if (x !== undefined) {
    w.raw(any ? K217 : K216)
    any = true
    w.str(x)
  }
  x = o["au3"]
  if (x !== undefined) {
    w.raw(any ? K219 : K218)
    any = true
    o27(w, x)
  }
  x = o["findings"]
  if (x !== undefined) {
    w.raw(any ? K227 : K226)
    any = true
    a30(w, x)
  }
  x = o["finding_codes"]
  if (x !== undefined) {
    w.raw(any ? K235 : K234)
    any = true
    a33(w, x)
  }
  x = o["controls"]
  if (x !== undefined) {
    w.raw(any ? K233 : K232)
    any = true
    a34(w, x)
  }
  x = o["severity"]
  if (x !== undefined) {
    w.raw(any ? K231 : K230)
    any = true
    w.str(x)
  }
  x = o["redactions"]
  if (x !== undefined) {
    w.raw(any ? K237 : K236)
    any = true
    w.int(x)
  }
  x = o["hash"]
  if (x !== undefined && !leaveOutUnhashed) {
    w.raw(any ? K23 : K22)
    any = true
    w.str(x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

// the event
function o0(w: DocumentBytes, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as O).toJSON === 'function') throw BAIL
  const o = v as O
  let any = false
  let x: unknown
  x = o["@timestamp"]
  if (x !== undefined) {
    w.raw(any ? K1 : K0)
    any = true
    w.str(x)
  }
  x = o["event"]
  if (x !== undefined) {
    w.raw(any ? K3 : K2)
    any = true
    o1(w, x)
  }
  x = o["network"]
  if (x !== undefined) {
    w.raw(any ? K29 : K28)
    any = true
    o4(w, x)
  }
  x = o["http"]
  if (x !== undefined) {
    w.raw(any ? K37 : K36)
    any = true
    o5(w, x)
  }
  x = o["url"]
  if (x !== undefined) {
    w.raw(any ? K51 : K50)
    any = true
    o8(w, x)
  }
  x = o["user_agent"]
  if (x !== undefined) {
    w.raw(any ? K59 : K58)
    any = true
    o9(w, x)
  }
  x = o["source"]
  if (x !== undefined) {
    w.raw(any ? K61 : K60)
    any = true
    o10(w, x)
  }
  x = o["destination"]
  if (x !== undefined) {
    w.raw(any ? K69 : K68)
    any = true
    o11(w, x)
  }
  x = o["tls"]
  if (x !== undefined) {
    w.raw(any ? K71 : K70)
    any = true
    o12(w, x)
  }
  x = o["mesh"]
  if (x !== undefined) {
    w.raw(any ? K83 : K82)
    any = true
    o14(w, x)
  }
  x = o["envoy"]
  if (x !== undefined) {
    w.raw(any ? K111 : K110)
    any = true
    o17(w, x)
  }
  x = o["ztunnel"]
  if (x !== undefined) {
    w.raw(any ? K157 : K156)
    any = true
    o20(w, x)
  }
  x = o["kubernetes"]
  if (x !== undefined) {
    w.raw(any ? K191 : K190)
    any = true
    o21(w, x)
  }
  x = o["orchestrator"]
  if (x !== undefined) {
    w.raw(any ? K201 : K200)
    any = true
    o23(w, x)
  }
  x = o["audit"]
  if (x !== undefined) {
    w.raw(any ? K205 : K204)
    any = true
    o25(w, x)
  }
  if (!any) w.byte(0x7b)
  w.byte(0x7d)
}

/**
 * Writes the event into `w` as the compiled serializer writes it and returns true, or returns false
 * (with `w` back at the document's start, DocumentBytes#begin) where it leaves the event to that serializer.
 * `hashed`: without event.ingested, event.created, audit.hash (what audit.hash covers).
 */
export function writeDocument(w: DocumentBytes, e: AuditEvent, hashed: boolean): boolean {
  const o = e as unknown as O
  if (o["@timestamp"] === undefined || o["event"] === undefined || o["envoy"] === undefined || o["audit"] === undefined) return false
  leaveOutUnhashed = hashed
  try {
    o0(w, o)
    return true
  } catch (err) {
    if (err !== BAIL) throw err
    w.abandon()
    return false
  }
}
