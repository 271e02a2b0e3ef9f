/**
 * Configuration of redaction (`redaction:` in the service config). On by default: an audit store is
 * read by many more people than the services whose traffic it records, so a bearer token or a signed
 * URL that reaches it is a credential leak. Every list has an explicit default and an upper bound.
 */
import { z } from 'zod'
import { loadConfigSection } from '../config/validate.js'

/**
 * Query (and matrix) parameter names whose values are secrets. Sources: RFC 6749 §4.1.2 (`code`),
 * §4.2.2 (`access_token`), RFC 6750 §2.3 (`access_token` in the URI), OIDC Core §3.2.2.5 (`id_token`),
 * RFC 7636 (`code_verifier`), RFC 7521 (`client_assertion`), AWS SigV4 presigned URLs
 * (`X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`), GCS signed URLs
 * (`X-Goog-Signature`, `X-Goog-Credential`), Azure SAS (`sig`), Google API keys (`key`),
 * servlet session ids (`jsessionid`). Matched case-insensitively, the key is kept.
 */
export const DEFAULT_SECRET_PARAMS: readonly string[] = Object.freeze([
  'token',
  'access_token',
  'id_token',
  'refresh_token',
  'api_key',
  'apikey',
  'api-key',
  'key',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'sig',
  'signature',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-goog-signature',
  'x-goog-credential',
  'code',
  'code_verifier',
  'client_assertion',
  'assertion',
  'auth',
  'session',
  'sessionid',
  'jsessionid',
  'jwt',
  'private_token',
])

/** Request/response headers whose whole value is a credential, as custom formats log them (%REQ(...)%). */
export const DEFAULT_SECRET_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
  'x-amz-security-token',
  'x-csrf-token',
  'x-vault-token',
])

const paramName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.-]+$/, 'a parameter or header name is letters, digits, _ . -')

const userRule = z
  .object({
    /** Shown in nothing but config errors; helps say which rule is wrong. */
    name: z.string().min(1).max(64),
    /**
     * A JavaScript regular expression. The whole match is replaced, or only the named group
     * `value` when the pattern has one (so `(?<k>secret=)(?<value>\w+)` keeps the key).
     */
    pattern: z
      .string()
      .min(1)
      .max(1000)
      .refine((p) => compiles(p), 'not a valid regular expression'),
    /** Extra flags; `g` and `d` are always added. */
    flags: z
      .string()
      .regex(/^[imsu]*$/, 'flags may only be i, m, s, u')
      .default(''),
  })
  .strict()

export const redactionConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Query/matrix parameter names whose values are replaced. */
    params: z
      .array(paramName)
      .max(500)
      .default([...DEFAULT_SECRET_PARAMS]),
    /** Header names whose values are replaced where a custom format logs them (JSON key or `Name: value`). */
    headers: z
      .array(paramName)
      .max(200)
      .default([...DEFAULT_SECRET_HEADERS]),
    /** Replace JWT-shaped values (`eyJ...`.`eyJ...`.sig) anywhere in the path, query and original line. */
    jwt: z.boolean().default(true),
    /** Replace the credential after an HTTP auth scheme (`Bearer`, `Basic`, ...) anywhere in the line. */
    authSchemes: z.boolean().default(true),
    /** Site-specific patterns, applied after the built-in ones. */
    rules: z.array(userRule).max(50).default([]),
  })
  .strict()

export type RedactionConfig = Readonly<z.output<typeof redactionConfigSchema>>

export function loadRedactionConfig(input: unknown = {}, prefix = 'redaction'): RedactionConfig {
  return loadConfigSection(redactionConfigSchema, input, prefix)
}

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, 'gd')
    return true
  } catch {
    return false
  }
}
