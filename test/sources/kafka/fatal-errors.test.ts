import {
  KafkaJSConnectionError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSSASLAuthenticationError,
} from 'kafkajs'
import { describe, expect, test } from 'vitest'
import { restartableCrash } from '../../../src/sources/kafka/fatal-errors.js'
import { KafkaCodecError } from '../../../src/sources/kafka/codecs.js'

// kafkajs' type declarations leave out constructor arguments its classes take (kafkajs 2.2.4 src/errors.js).
type ErrorClass = new (e: Error | string, opts?: object) => Error
const make = (cls: unknown, e: Error | string, opts?: object): Error => new (cls as ErrorClass)(e, opts)

/** How kafkajs' retrier wraps an error it will not retry (src/retry/index.js). */
const wrapped = (e: Error): Error => make(KafkaJSNonRetriableError, e, { cause: e })

// The shape kafkajs gives broker errors (src/protocol/error.js): type, code, retriable.
const protocol = (type: string, code: number, retriable: boolean): Error =>
  new KafkaJSProtocolError({ type, code, retriable, message: type } as unknown as Error)

describe('restartableCrash: which consumer crashes the source restarts itself', () => {
  test.each([
    ['no broker named a coordinator', make(KafkaJSGroupCoordinatorNotFound, 'Failed to find group coordinator')],
    ['a refused connection, wrapped by the retrier', wrapped(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'))],
    [
      'retries exhausted on a retriable broker error',
      make(KafkaJSNumberOfRetriesExceeded, protocol('NOT_COORDINATOR_FOR_GROUP', 16, true), { retryCount: 5, retryTime: 100 }),
    ],
  ])('restarted: %s', (_, err) => expect(restartableCrash(err)).toBe(true))

  test.each([
    ['an incompatible group protocol', protocol('INCONSISTENT_GROUP_PROTOCOL', 23, false)],
    ['a session timeout the broker refuses', protocol('INVALID_SESSION_TIMEOUT', 26, false)],
    [
      'group authorization refused, even inside a connection error',
      Object.assign(new KafkaJSConnectionError('x'), { cause: protocol('GROUP_AUTHORIZATION_FAILED', 30, false) }),
    ],
    ['SASL authentication failed', make(KafkaJSSASLAuthenticationError, 'SASL PLAIN authentication failed')],
    ['a batch that does not decode', wrapped(new KafkaCodecError('snappy: cannot decompress'))],
    ['a plain programming error', new TypeError('x is undefined')],
  ])('not restarted: %s', (_, err) => expect(restartableCrash(err)).toBe(false))
})
