/**
 * TLS for the OTLP receiver: one server certificate for both endpoints (gRPC and HTTP), and optionally a
 * client CA, which turns on mutual TLS: a client must present a certificate that CA signed, or the
 * handshake fails before any request is read. The files are read once, when the receiver starts; an
 * unreadable one stops the start with the option that names it. Node's defaults (TLS 1.2 and later)
 * apply.
 *
 * Plaintext on a non-loopback address is refused at config time unless `insecure: true` says so: log
 * lines carry identities and paths, and any pod that can reach the port could write events (the same
 * stance as the OpenSearch connection's `insecure`, which alone allows a password over http://).
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { z } from 'zod'
import { EnvoyAuditError } from '../../errors.js'

export const otlpTlsSchema = z
  .object({
    /** PEM server certificate (chain), presented on both endpoints. */
    certFile: z.string().min(1),
    /** PEM private key of certFile. */
    keyFile: z.string().min(1),
    /** PEM CA bundle: clients must present a certificate it signed (mutual TLS). */
    clientCaFile: z.string().min(1).optional(),
  })
  .strict()

export type OtlpTlsConfig = z.output<typeof otlpTlsSchema>

export interface OtlpTlsMaterial {
  cert: Buffer
  key: Buffer
  clientCa: Buffer | undefined
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this host only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

function read(path: string, option: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `source.otlp.tls.${option}: cannot read ${path}: ${code}`)
  }
}

/** Reads the PEM files (at start); errors name the option. */
export function loadOtlpTls(config: OtlpTlsConfig): OtlpTlsMaterial {
  return {
    cert: read(config.certFile, 'certFile'),
    key: read(config.keyFile, 'keyFile'),
    clientCa: config.clientCaFile === undefined ? undefined : read(config.clientCaFile, 'clientCaFile'),
  }
}
