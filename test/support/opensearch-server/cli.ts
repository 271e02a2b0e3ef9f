/**
 * Runs the test server in its own process (throughput tests must not share the event loop with the
 * client). Prints one JSON line `{"port":N}` on stdout once listening; stops on SIGTERM or stdin close.
 * Usage: npx tsx test/support/opensearch-server/cli.ts [--port N] [--bench]
 * `--bench`: documents are not checked against the mapping and no request is recorded, so a benchmark
 * measures the client rather than this double (tests keep the strict default).
 */
import { TestOpenSearch } from './server.js'

const portArg = process.argv.indexOf('--port')
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0
const bench = process.argv.includes('--bench')
const srv = await TestOpenSearch.start({ port, ...(bench ? { checkMappings: false, maxRecorded: 0 } : {}) })
process.stdout.write(JSON.stringify({ port: srv.port }) + '\n')
const stop = () => void srv.close().then(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.resume()
