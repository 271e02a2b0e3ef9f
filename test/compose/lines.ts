/** Access-log lines for the compose tests: Envoy's default TEXT format, and a line that is not an access log. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const GOOD = (i: number): string =>
  `[2024-05-01T10:00:${String(i % 60).padStart(2, '0')}.000Z] "GET /api/items/${i}?token=s3cret${i} HTTP/1.1" 200 - via_upstream - "-" 0 ${100 + i} 3 2 "-" "curl/8.0" "req-${i}" "catalog.shop:8080" "10.0.0.5:8080" inbound|8080|| 127.0.0.6:4000 10.0.0.5:8080 10.0.1.9:5000${i % 10} outbound_.8080_._.catalog.shop.svc.cluster.local default`
/** A dead letter (EA_PARSE_NOT_ACCESS_LOG) that carries a secret, for the redaction hook. */
export const JUNK = (i: number): string => `2024-05-01T10:00:00.000000Z info envoy proxy message ${i} GET /login?password=hunter${i}`

/** A temporary folder with access.log holding `good` good lines then `junk` junk lines. */
export function logFile(good: number, junk: number): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ea-compose-'))
  const file = join(dir, 'access.log')
  const lines = [...Array.from({ length: good }, (_, i) => GOOD(i)), ...Array.from({ length: junk }, (_, i) => JUNK(i))]
  writeFileSync(file, `${lines.join('\n')}\n`)
  return { dir, file }
}
