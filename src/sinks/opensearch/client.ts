/**
 * Builds the @opensearch-project/opensearch client from a validated connection config. TLS is verified
 * unless `insecure` is set; the CA and client certificate are read once here, at startup. The
 * transport's own retry is off by default for the sink (it retries 502/503/504 at once, without
 * backoff, and never 429): the sink decides every retry itself.
 */
import { readFileSync } from 'node:fs'
import { Client, type ClientOptions } from '@opensearch-project/opensearch'
import { EnvoyAuditError } from '../../errors.js'
import type { ConnectionConfig } from './config.js'

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new EnvoyAuditError('EA_CONFIG_INVALID', `opensearch.${option}: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
}

export interface ClientBuildOptions {
  /** Transport-level retries of 502/503/504 and connection errors; 0 for the sink (it retries itself). */
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
  return new Client(options)
}
