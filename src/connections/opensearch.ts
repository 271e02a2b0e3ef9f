/**
 * Every OpenSearch client of the project is built here: the sink, the integrity ledger, the store's
 * read paths, setup, alerting provision, verify, report and hunt. One connection config (zod schema,
 * validated once and frozen, errors naming the option path) and one builder: TLS is verified unless
 * `insecure` is set; the CA and client certificate are read once, at startup; basic-auth credentials
 * may come from the environment; AWS SigV4 signing for Amazon OpenSearch Service. The client library
 * is loaded only when a client is created, so commands that never talk to OpenSearch do not pay for it.
 */
import { readFileSync } from 'node:fs'
import type { Client, ClientOptions } from '@opensearch-project/opensearch'
import { z } from 'zod'
import { deepFreeze, parseConfig } from '../config/validate.js'
import { EnvoyAuditError } from '../errors.js'

export const connectionConfigSchema = z
  .object({
    /** Base URL, e.g. https://opensearch.example:9200. */
    node: z.url({ protocol: /^https?$/ }),
    /** Basic auth. The password is never logged; the CLI reads it from an env var or a file. */
    username: z.string().min(1).max(256).optional(),
    password: z.string().min(1).max(4096).optional(),
    /** PEM CA bundle to verify the server against (else the system roots). */
    caFile: z.string().min(1).optional(),
    /** Client-certificate authentication (PEM). */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /**
     * Skip TLS verification, and accept basic-auth credentials over http://. Off by default; a warning is
     * printed when it is on.
     */
    insecure: z.boolean().default(false),
    /** AWS SigV4 signing (Amazon OpenSearch Service): region, and `es` or `aoss` (serverless). */
    awsRegion: z.string().min(1).max(64).optional(),
    awsService: z.enum(['es', 'aoss']).default('es'),
    /** Per-request timeout. */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** gzip request bodies (bulk bodies compress about 10x). */
    compression: z.boolean().default(false),
  })
  .strict()
  .refine((c) => (c.username === undefined) === (c.password === undefined), {
    message: 'username and password must be given together',
    path: ['password'],
  })
  .refine((c) => (c.certFile === undefined) === (c.keyFile === undefined), {
    message: 'certFile and keyFile must be given together',
    path: ['keyFile'],
  })
  // Basic auth is the password itself in every request header: over http:// anyone on the path reads it.
  .refine((c) => c.insecure || !sendsPasswordInPlaintext(c), {
    message:
      'is http:// and basic-auth credentials are set (from the config or OPENSEARCH_USERNAME/OPENSEARCH_PASSWORD): ' +
      'the password would travel in plaintext; use https://, or insecure: true (--insecure) to accept it',
    path: ['node'],
  })

/** Basic-auth credentials would go to an http:// URL. */
export function sendsPasswordInPlaintext(c: { node: string; password?: string | undefined }): boolean {
  return /^http:/i.test(c.node) && c.password !== undefined
}

export type ConnectionConfigInput = z.input<typeof connectionConfigSchema>
export type ConnectionConfig = Readonly<z.output<typeof connectionConfigSchema>>

/** Validates and freezes the connection config; errors name the option path (`opensearch.node`, ...). */
export function loadConnectionConfig(input: unknown, prefix = 'opensearch'): ConnectionConfig {
  return deepFreeze(parseConfig(connectionConfigSchema, input, prefix))
}

/**
 * Basic-auth credentials stay out of config files: when `sink.opensearch.connection` names no
 * username, OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD are used (as `setup` does), so a mounted
 * config and a Kubernetes secret in the environment combine.
 */
export function withEnvCredentials(
  connection: ConnectionConfig,
  env: NodeJS.ProcessEnv,
  prefix = 'sink.opensearch.connection',
): ConnectionConfig {
  const username = env.OPENSEARCH_USERNAME
  if (connection.username !== undefined || username === undefined || username === '') return connection
  return loadConnectionConfig({ ...connection, username, password: env.OPENSEARCH_PASSWORD }, prefix)
}

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `opensearch.${option}: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
}

export interface ClientBuildOptions {
  /**
   * Transport-level retries of 502/503/504 and connection errors; 0 for the sink and the ledger (they
   * retry themselves: the transport retries at once, without backoff, and never 429).
   */
  maxRetries?: number
}

/** The ClientOptions for a connection config (exported for tests that assert TLS defaults). */
export function clientOptions(config: ConnectionConfig, build: ClientBuildOptions = {}): ClientOptions {
  const ssl: NonNullable<ClientOptions['ssl']> = { rejectUnauthorized: !config.insecure }
  if (config.caFile !== undefined) ssl.ca = readPem(config.caFile, 'caFile')
  if (config.certFile !== undefined && config.keyFile !== undefined) {
    ssl.cert = readPem(config.certFile, 'certFile')
    ssl.key = readPem(config.keyFile, 'keyFile')
  }
  const options: ClientOptions = {
    node: config.node,
    ssl,
    maxRetries: build.maxRetries ?? 0,
    requestTimeout: config.requestTimeoutMs,
    // Our own product name in the user agent is not needed; no meta header leaks versions either.
    enableMetaHeader: false,
  }
  if (config.compression) options.compression = 'gzip'
  if (config.username !== undefined && config.password !== undefined) {
    options.auth = { username: config.username, password: config.password }
  }
  return options
}

/**
 * Creates the client. With `awsRegion`, requests are SigV4-signed with credentials from the standard
 * AWS environment variables (no AWS SDK dependency): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * optionally AWS_SESSION_TOKEN.
 */
export async function createOpenSearchClient(config: ConnectionConfig, build: ClientBuildOptions = {}): Promise<Client> {
  const options = clientOptions(config, build)
  if (config.awsRegion !== undefined) {
    const { AwsSigv4Signer } = (await import('@opensearch-project/opensearch/aws')) as unknown as {
      AwsSigv4Signer: (o: { region: string; service: string; getCredentials: () => Promise<unknown> }) => Partial<ClientOptions>
    }
    const getCredentials = async () => {
      const accessKeyId = process.env.AWS_ACCESS_KEY_ID
      const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY
      if (accessKeyId === undefined || secretAccessKey === undefined) {
        throw new EnvoyAuditError('EA_SINK_AUTH', 'AWS SigV4: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set')
      }
      return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN }
    }
    Object.assign(options, AwsSigv4Signer({ region: config.awsRegion, service: config.awsService, getCredentials }))
  }
  const { Client } = await import('@opensearch-project/opensearch')
  return new Client(options)
}
