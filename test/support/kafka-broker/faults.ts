import type { ApiName } from './wire.js'

export interface FaultControls {
  /** Destroy every open client socket now (kafkajs must reconnect). */
  dropConnections(): void
  /** Accept and immediately close new connections for `ms`; existing ones are untouched. */
  refuseConnections(ms: number): void
  /** The next `times` requests of `api` are answered with `errorCode` (and have no effect). */
  failNext(api: ApiName, errorCode: number, times?: number): void
  /** Delay every response (or only `api`'s) by `ms`; 0 clears it. */
  latency(ms: number, api?: ApiName): void
  /** Clear error and latency injection and connection refusal. */
  clear(): void
}

export class Faults {
  private errors = new Map<ApiName, number[]>()
  private delays = new Map<ApiName | '*', number>()
  refuseUntil = 0

  failNext(api: ApiName, errorCode: number, times = 1): void {
    const queue = this.errors.get(api) ?? []
    for (let i = 0; i < times; i++) queue.push(errorCode)
    this.errors.set(api, queue)
  }

  takeError(api: ApiName): number | undefined {
    return this.errors.get(api)?.shift()
  }

  latency(ms: number, api?: ApiName): void {
    this.delays.set(api ?? '*', ms)
  }

  delayFor(api: ApiName): number {
    return (this.delays.get(api) ?? 0) + (this.delays.get('*') ?? 0)
  }

  refusing(): boolean {
    return Date.now() < this.refuseUntil
  }

  clear(): void {
    this.errors.clear()
    this.delays.clear()
    this.refuseUntil = 0
  }
}
