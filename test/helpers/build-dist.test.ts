import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { buildDist } from './build-dist.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A small project laid out as this one: tsconfig at the root, sources in src/, a JSON file they import. */
function project(): { root: string; layout: { root: string; src: string; outDir: string } } {
  const root = mkdtempSync(join(tmpdir(), 'ea-build-'))
  dirs.push(root)
  writeFileSync(join(root, 'package.json'), JSON.stringify({ type: 'module' }))
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        resolveJsonModule: true,
        sourceMap: true,
        outDir: 'dist',
        rootDir: '.',
      },
      include: ['src/**/*.ts'],
    }),
  )
  mkdirSync(join(root, 'src/lib'), { recursive: true })
  mkdirSync(join(root, 'data'))
  writeFileSync(join(root, 'data/answer.json'), JSON.stringify({ answer: 42 }))
  writeFileSync(join(root, 'src/lib/add.ts'), 'export type N = number\nexport function add(a: N, b: N): N {\n  return a + b\n}\n')
  writeFileSync(
    join(root, 'src/main.ts'),
    [
      '#!/usr/bin/env node',
      "import { add, type N } from './lib/add.js'",
      "import data from '../data/answer.json' with { type: 'json' }",
      'const x: N = add(data.answer, 1)',
      'console.log(x)',
      '',
    ].join('\n'),
  )
  return { root, layout: { root, src: join(root, 'src'), outDir: join(root, 'dist') } }
}

describe('buildDist', () => {
  test('transpiles the sources into runnable ES modules, copies the imported JSON, makes the #! file executable', () => {
    const { root, layout } = project()
    const r = buildDist(layout)
    expect(r.transpiled.sort()).toEqual(['src/lib/add.ts', 'src/main.ts'])
    expect(r.copied).toEqual(['data/answer.json'])
    expect(execFileSync(process.execPath, [join(root, 'dist/src/main.js')], { encoding: 'utf8' })).toBe('43\n')
    expect(statSync(join(root, 'dist/src/main.js')).mode & 0o111).not.toBe(0)
    expect(statSync(join(root, 'dist/src/lib/add.js')).mode & 0o111).toBe(0)
    const map = JSON.parse(readFileSync(join(root, 'dist/src/lib/add.js.map'), 'utf8')) as { sources: string[] }
    expect(map.sources).toEqual(['../../../src/lib/add.ts'])
  })

  test('a second run changes nothing; an edited source is transpiled again, alone', () => {
    const { root, layout } = project()
    buildDist(layout)
    expect(buildDist(layout)).toEqual({ transpiled: [], copied: [], removed: [] })
    const later = new Date(Date.now() + 5000)
    writeFileSync(join(root, 'src/lib/add.ts'), 'export type N = number\nexport function add(a: N, b: N): N {\n  return a + b + 1\n}\n')
    utimesSync(join(root, 'src/lib/add.ts'), later, later)
    expect(buildDist(layout).transpiled).toEqual(['src/lib/add.ts'])
    expect(execFileSync(process.execPath, [join(root, 'dist/src/main.js')], { encoding: 'utf8' })).toBe('44\n')
  })

  test('the output of a deleted source is removed', () => {
    const { root, layout } = project()
    writeFileSync(join(root, 'src/lib/gone.ts'), 'export const gone = 1\n')
    buildDist(layout)
    expect(existsSync(join(root, 'dist/src/lib/gone.js'))).toBe(true)
    rmSync(join(root, 'src/lib/gone.ts'))
    expect(buildDist(layout).removed.sort()).toEqual(['dist/src/lib/gone.js', 'dist/src/lib/gone.js.map'])
    expect(existsSync(join(root, 'dist/src/lib/gone.js'))).toBe(false)
  })
})
