import { afterEach } from 'vitest'

export interface CleanupStack {
  /** Registers a cleanup; after the test they run newest first, each awaited, failures ignored. */
  push(cleanup: () => Promise<unknown>): void
}

/**
 * One stack of cleanups per test file, emptied after each test, then `after` (in the same hook, so
 * in that order): a check that a test broker saw no protocol error belongs there, because closing the
 * consumers is what sends their last requests, and a separate afterEach hook could run before it.
 */
export function cleanupAfterEach(after?: () => Promise<unknown> | unknown): CleanupStack {
  const stack: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const c of stack.splice(0).reverse()) await c().catch(() => undefined)
    await after?.()
  })
  return { push: (cleanup) => void stack.push(cleanup) }
}
