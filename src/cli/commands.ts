/**
 * Every subcommand registers here, one line each. Keep the list in the order `--help` should show it.
 */
import type { Command } from 'commander'
import { registerParse } from './parse.js'
import { registerSetup } from './setup.js'

export function registerCommands(program: Command): void {
  registerParse(program)
  registerSetup(program)
}
