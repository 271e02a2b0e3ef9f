/**
 * The OpenSearch connection options every command that talks to OpenSearch takes (setup, alerting
 * provision, verify, report, hunt, flows), and the validated connection they give. Passwords are never
 * taken on the command line (they would show in `ps` and shell history): they come from
 * OPENSEARCH_PASSWORD or a file. TLS is verified unless --insecure, which prints a warning; a password
 * for an http:// URL is refused unless --insecure, and warned about with it.
 */
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import { loadConnectionConfig, sendsPasswordInPlaintext, type ConnectionConfig } from '../connections/opensearch.js'

export interface OpenSearchCliOptions {
  opensearch?: string
  username?: string
  passwordFile?: string
  ca?: string
  cert?: string
  key?: string
  insecure?: boolean
  awsRegion?: string
  awsService?: string
  gzip?: boolean
}

export function addOpenSearchOptions(cmd: Command): Command {
  return cmd
    .option('--opensearch <url>', 'OpenSearch URL, e.g. https://opensearch:9200 (or OPENSEARCH_URL)')
    .option('--username <name>', 'basic-auth user (or OPENSEARCH_USERNAME); the password comes from OPENSEARCH_PASSWORD or --password-file')
    .option('--password-file <file>', 'file holding the basic-auth password')
    .option('--ca <file>', 'PEM CA bundle to verify the server certificate')
    .option('--cert <file>', 'PEM client certificate (client-certificate auth)')
    .option('--key <file>', 'PEM client key')
    .option('--insecure', 'do NOT verify the server certificate, and allow a password over http:// (test clusters only)')
    .option('--aws-region <region>', 'sign requests with AWS SigV4 (credentials from AWS_* environment variables)')
    .option('--aws-service <service>', 'es (managed domains) or aoss (serverless)', 'es')
    .option('--gzip', 'gzip request bodies')
}

/** Builds the validated connection config from CLI options and the environment. */
export function connectionFromOptions(opts: OpenSearchCliOptions, env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  // An empty variable counts as unset (`FOO= cmd` is a common way to clear one).
  const fromEnv = (name: string) => (env[name] === '' ? undefined : env[name])
  const node = opts.opensearch ?? fromEnv('OPENSEARCH_URL')
  if (node === undefined) throw new EnvoyAuditError('EA_USAGE', '--opensearch <url> (or OPENSEARCH_URL) is required')
  const username = opts.username ?? fromEnv('OPENSEARCH_USERNAME')
  let password = fromEnv('OPENSEARCH_PASSWORD')
  if (opts.passwordFile !== undefined) {
    try {
      password = readFileSync(opts.passwordFile, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new EnvoyAuditError('EA_IO', `--password-file: cannot read ${opts.passwordFile}: ${(err as Error).message}`)
    }
  }
  if (username === undefined) password = undefined
  else if (password === undefined) throw new EnvoyAuditError('EA_USAGE', 'a username needs OPENSEARCH_PASSWORD or --password-file')
  const config = loadConnectionConfig({
    node,
    username,
    password,
    caFile: opts.ca,
    certFile: opts.cert,
    keyFile: opts.key,
    insecure: opts.insecure === true,
    awsRegion: opts.awsRegion,
    awsService: opts.awsService ?? 'es',
    compression: opts.gzip === true,
  })
  if (config.insecure) process.stderr.write('envoy-audit: WARNING: --insecure: the OpenSearch server certificate is NOT verified\n')
  if (config.insecure && sendsPasswordInPlaintext(config)) {
    const from = opts.passwordFile === undefined ? 'OPENSEARCH_PASSWORD' : '--password-file'
    process.stderr.write(`envoy-audit: WARNING: --insecure: ${config.node} is http://: the password (${from}) travels in plaintext\n`)
  }
  return config
}
