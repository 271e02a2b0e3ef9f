/**
 * Every subcommand registers here, one line each. Keep the list in the order `--help` should show it.
 */
import type { Command } from 'commander'
import { registerParse } from './parse.js'
import { registerRun } from './run.js'
import { registerIngest } from './ingest.js'
import { registerSql } from './sql.js'
import { registerReport } from './report.js'
import { registerDemo } from './demo.js'
import { registerSetup } from './setup.js'
import { registerAlerting } from './alerting.js'
import { registerDemoProduce } from './demo-produce.js'
import { registerHunt } from './hunt.js'
import { registerFlows } from './flows.js'
import { registerPolicy } from './policy.js'
import { registerVerify } from './verify.js'

export function registerCommands(program: Command): void {
  registerParse(program)
  registerRun(program)
  registerIngest(program)
  registerSql(program)
  registerReport(program)
  registerDemo(program)
  registerSetup(program)
  registerAlerting(program)
  registerDemoProduce(program)
  registerFlows(program)
  registerHunt(program)
  registerPolicy(program)
  registerVerify(program)
}
