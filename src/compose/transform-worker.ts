/**
 * The entry of a transform worker thread (src/pipeline/worker-pool.ts): builds the parser and the
 * stages with buildProcessing, from the same configuration sections as the main thread, so a worker
 * runs the very stage functions the main thread would, then answers micro-batches until terminated.
 * A configuration that does not build here exits the worker; the pool then parses on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { buildProcessing, type ProcessingConfig } from './stages.js'
import { serveTransformJobs, type ReplyShape } from '../pipeline/worker-protocol.js'

if (parentPort !== null) {
  const data = workerData as { processing: ProcessingConfig; reply?: ReplyShape }
  const processing = buildProcessing(data.processing)
  serveTransformJobs(parentPort, processing.parser, processing.stages, data.reply)
  parentPort.postMessage({ ready: true })
}
