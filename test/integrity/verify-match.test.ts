/**
 * The match by event id in the scratch database, with findings rows as wide as OpenSearch's findings
 * documents (verify --opensearch compares whole canonical documents, ~2 KB each). The crash drill at
 * 100k records found verify --opensearch running out of its 64 MB scratch memory here: the suspect
 * query held every findings row's text in a hash join, and ran that join in one UNION with the events'
 * join. 20,000 events with a 2 KB finding each under a 24 MB scratch limit reproduce it (either change
 * alone still fails); the rows must be compared without holding them, and still tell which differ. */
import { createHash } from 'node:crypto'
import { afterEach, describe, expect, test } from 'vitest'
import { emptyReport } from '../../src/integrity/verify-core.js'
import { evRow, matchById, matchTables } from '../../src/integrity/verify-match.js'
import { VerifyScratch } from '../../src/store/verify-scratch.js'

const N = 20_000
let scratch: VerifyScratch | undefined
afterEach(() => {
  scratch?.close()
  scratch = undefined
})

const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

/** A findings document's canonical text, distinct per event and ~2 KB (incompressible enough to be held as is). */
function findingRow(i: number, detail = 'plaintext'): string {
  const filler = Array.from({ length: 30 }, (_, k) => sha(`${i}:${k}`)).join('')
  return JSON.stringify({ code: detail, event_id: `ev-${i}`, filler })
}

describe('matchById with wide findings rows', () => {
  test(`${N} events with a 2 KB finding each match within a 24 MB scratch, and the differing rows are still found`, async () => {
    scratch = await VerifyScratch.open({ memoryLimit: '24MB' })
    const t = await matchTables(scratch)
    const tampered = new Set([17, 4_000, 19_999])
    const dropped = 9_000
    for (let i = 0; i < N; i++) {
      const id = `ev-${i}`
      const hash = sha(id)
      t.ledger.add([id, 'stream-a', i, hash, sha(`chain:${i}`), 1_700_000_000_000 + i])
      t.ev.add(evRow(i, id, { hash, legacy: undefined, auditHash: hash, eventId: id }, undefined, 1))
      t.fx.add([id, 0, findingRow(i)])
      if (i !== dropped) t.fa.add([id, 0, findingRow(i, tampered.has(i) ? 'edited' : 'plaintext')])
    }
    for (const table of Object.values(t)) table.flush()
    const report = emptyReport()
    await matchById(scratch, report, () => undefined, { compareFindings: true })
    expect(report.events).toBe(N)
    expect(report.counts).toEqual({ deleted: 0, modified: 4, inserted: 0, chain: 0 })
    const byId = new Map(report.issues.map((i) => [i.id, i.detail]))
    expect([...byId.keys()].sort()).toEqual(['ev-17', 'ev-19999', 'ev-4000', 'ev-9000'])
    expect(byId.get('ev-9000')).toBe('0 findings rows for 1 findings')
    // Not a stored-table row (a JSON array): the row is named, not a column.
    expect(byId.get('ev-17')).toBe('findings row 0 differs from the stored event')
  }, 120_000)

  test('in parts by a hash of the id, the same: deleted, modified, inserted, a second copy, a differing findings row', async () => {
    const reports = []
    for (const partRows of [undefined, 700, 1]) {
      const s = await VerifyScratch.open({ memoryLimit: '24MB' })
      try {
        const t = await matchTables(s)
        for (let i = 0; i < 5_000; i++) {
          const id = `ev-${i}`
          const hash = sha(id)
          if (i !== 10) t.ledger.add([id, 'stream-a', i, hash, sha(`chain:${i}`), 1_700_000_000_000 + i])
          if (i !== 20)
            t.ev.add(evRow(i, id, { hash: i === 30 ? sha('edited') : hash, legacy: undefined, auditHash: hash, eventId: id }, undefined, 1))
          t.fx.add([id, 0, JSON.stringify(['row', i])])
          t.fa.add([id, 0, JSON.stringify([i === 40 ? 'edited' : 'row', i])])
        }
        // A second stored copy of an event: found by the count of copies per id, which runs in parts too.
        t.ev.add(evRow(5_000, 'ev-50', { hash: sha('ev-50'), legacy: undefined, auditHash: sha('ev-50'), eventId: 'ev-50' }, undefined, 1))
        for (const table of Object.values(t)) table.flush()
        const report = emptyReport()
        await matchById(s, report, () => undefined, { compareFindings: true, ...(partRows === undefined ? {} : { partRows }) })
        reports.push({ counts: report.counts, ids: report.issues.map((i) => `${i.kind}:${i.id}`).sort() })
      } finally {
        s.close()
      }
    }
    const found = ['deleted:ev-20', 'inserted:ev-10', 'inserted:ev-50', 'modified:ev-30', 'modified:ev-40']
    expect(reports[0]!.ids).toEqual(expect.arrayContaining(found))
    expect(reports[1]).toEqual(reports[0])
    expect(reports[2]).toEqual(reports[0])
  }, 120_000)
})
