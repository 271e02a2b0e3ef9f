import { readFileSync } from 'node:fs'
import { packageFile } from '../package-root.js'

export function packageVersion(): string {
  return (JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version
}
