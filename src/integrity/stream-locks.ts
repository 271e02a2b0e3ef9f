/**
 * Per-stream ordering for ledger writes. A chain can only be extended in position order, so two
 * writes that touch one stream must not overlap and must run in the order they were asked for; two
 * writes on different streams have nothing to wait for (one partition's retries or conflicts do not
 * hold another partition's ledger).
 */
export class StreamLocks {
  private readonly tails = new Map<string, Promise<void>>()
  private readonly running = new Set<Promise<void>>()

  /** Runs `task` after every earlier task that shares one of `streams` has finished (however it ended). */
  run<T>(streams: readonly string[], task: () => Promise<T>): Promise<T> {
    const before = new Set<Promise<void>>()
    for (const s of streams) {
      const t = this.tails.get(s)
      if (t !== undefined) before.add(t)
    }
    const result = (before.size === 0 ? Promise.resolve() : Promise.all(before)).then(task)
    const done: Promise<void> = result.then(
      () => undefined,
      () => undefined,
    )
    for (const s of streams) this.tails.set(s, done)
    this.running.add(done)
    void done.then(() => {
      this.running.delete(done)
      for (const s of streams) if (this.tails.get(s) === done) this.tails.delete(s)
    })
    return result
  }

  /** Resolves once no task is running or waiting, tasks started meanwhile included. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running)
  }
}
