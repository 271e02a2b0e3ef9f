/**
 * deploy/local-services.yaml is what a new user runs against `npm run services:up`: it must validate,
 * and point at the loopback ports the services start on by default.
 */
import { readFileSync } from 'node:fs'
import { expect, test } from 'vitest'
import { parse } from 'yaml'
import { validateConfig } from '../../src/compose/config.js'
import { servicesOptions } from '../services/services.js'

test('deploy/local-services.yaml validates and names the default service ports', () => {
  const config = validateConfig(parse(readFileSync(new URL('../../deploy/local-services.yaml', import.meta.url), 'utf8')))
  const o = servicesOptions({}, () => undefined)
  expect(config.source.kind).toBe('kafka')
  expect(config.source.kafka?.brokers).toEqual([`127.0.0.1:${o.kafkaPort}`])
  expect(config.sink.kind).toBe('opensearch')
  expect(config.sink.opensearch?.connection.node).toBe(`http://127.0.0.1:${o.opensearchPort}`)
  expect(config.deadLetter.kind).toBe('file')
})
