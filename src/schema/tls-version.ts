/**
 * The negotiated TLS version as ECS writes it: `tls.version` is the numeric part ("1.2") and
 * `tls.version_protocol` the lowercase protocol ("tls"), ECS 8.x tls field set. Envoy's
 * %DOWNSTREAM_TLS_VERSION% / %UPSTREAM_TLS_VERSION% print what BoringSSL's SSL_get_version returns:
 * TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, or SSLv3 (envoyproxy.io, "Access logging", command operators).
 * TLSv1 is TLS 1.0.
 */
export type TlsProtocol = 'tls' | 'ssl'

export interface EcsTlsVersion {
  version: string
  protocol: TlsProtocol
}

const ENVOY = /^(TLS|SSL)v(\d{1,2})(?:\.(\d{1,2}))?$/i
const NUMERIC = /^(\d{1,2})\.(\d{1,2})$/

/**
 * ECS version and protocol of a version string: Envoy's spelling (TLSv1.2, TLSv1, SSLv3), or the ECS
 * numeric one ("1.2", read as TLS unless `protocol` says otherwise). Undefined for anything else.
 */
export function ecsTlsVersion(raw: string, protocol?: string): EcsTlsVersion | undefined {
  const s = raw.trim()
  const envoy = ENVOY.exec(s)
  if (envoy !== null) {
    return { version: `${Number(envoy[2])}.${Number(envoy[3] ?? 0)}`, protocol: envoy[1]!.toLowerCase() as TlsProtocol }
  }
  const numeric = NUMERIC.exec(s)
  if (numeric === null) return undefined
  const p = protocol === undefined ? 'tls' : protocol.trim().toLowerCase()
  if (p !== 'tls' && p !== 'ssl') return undefined
  return { version: `${Number(numeric[1])}.${Number(numeric[2])}`, protocol: p }
}

/** Oldest first: the versions a minimum can name and weak_tls compares against. */
const ORDER: readonly string[] = ['ssl 3.0', 'tls 1.0', 'tls 1.1', 'tls 1.2', 'tls 1.3']

/** Position of a version in ORDER (-1: unknown, never called weak). */
export function tlsVersionRank(v: EcsTlsVersion): number {
  return ORDER.indexOf(`${v.protocol} ${v.version}`)
}

/** How a version reads in a message: "TLS 1.2", "SSL 3.0". */
export function tlsVersionLabel(v: EcsTlsVersion): string {
  return `${v.protocol.toUpperCase()} ${v.version}`
}
