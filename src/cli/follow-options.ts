/**
 * `--follow` for `parse` and `ingest`: the files are read as they grow, across rotations, until Ctrl-C
 * or SIGTERM (src/sources/file-follow.ts); with a state file, a later run goes on where this one
 * stopped.
 */
import { type Command, Option } from 'commander'
import { EnvoyAuditError } from '../errors.js'
import type { FileSourceConfig } from '../sources/file-source.js'

export interface FollowCliOptions {
  follow?: boolean
  state?: string
  startAt?: 'beginning' | 'end'
}

export function addFollowOptions(cmd: Command, stateHelp: string): Command {
  return cmd
    .option(
      '-f, --follow',
      'read the files as they grow, like tail -F (rename and copytruncate rotations, files that do not exist yet), until Ctrl-C',
    )
    .option('--state <file>', `with --follow: read positions kept across runs, saved only once what precedes them is stored (${stateHelp})`)
    .addOption(
      new Option('--start-at <where>', 'with --follow: where a file without a saved position starts')
        .choices(['beginning', 'end'])
        .default('beginning'),
    )
}

/** The file source options --follow asks for; undefined state: positions are not kept. */
export function followSourceOptions(opts: FollowCliOptions, files: string[], defaultState: string | undefined): Partial<FileSourceConfig> {
  if (opts.follow !== true) {
    if (opts.state !== undefined) throw new EnvoyAuditError('EA_USAGE', '--state goes with --follow')
    return {}
  }
  if (files.length === 0 || files.includes('-'))
    throw new EnvoyAuditError('EA_USAGE', '--follow reads files by name; stdin (-) is read as it comes without it')
  const stateFile = opts.state ?? defaultState
  return { follow: true, startAt: opts.startAt ?? 'beginning', ...(stateFile === undefined ? {} : { stateFile }) }
}
