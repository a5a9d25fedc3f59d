/** `bun run bench` — the four benchmarks, each beside its baseline in the same run.
 *
 *    bun bench/run.ts [hot|propagation|fleet|hit ...] [--readme] [--diagnose|--no-diagnose]
 *
 *  Prints a table, writes bench/results.md (only when all four ran, so a partial run never replaces
 *  the full record; a partial run writes bench/results/partial.md), and with --readme puts the table
 *  between the bench markers in README.md. Every process it starts is killed at the end, also on a
 *  failure or Ctrl-C. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fleet } from './fleet'
import { HIT_DEFAULTS, hit } from './hit'
import { HOT_DEFAULTS, hot } from './hot'
import { cleanupWorkDir, killAll, ROOT } from './lib/procs'
import { consoleTable, LABELS, readmeBlock, replaceBlock, resultsMarkdown, type BenchId, type BenchResult } from './lib/report'
import { toolNotes } from './lib/tools'
import { propagation } from './propagation'

const ALL: BenchId[] = ['hot', 'propagation', 'fleet', 'hit']
const USAGE = 'usage: bun bench/run.ts [hot|propagation|fleet|hit ...] [--readme] [--diagnose|--no-diagnose]'

const args = process.argv.slice(2)
const flags = new Set(args.filter((a) => a.startsWith('--')))
const picked = args.filter((a) => !a.startsWith('--'))
for (const a of picked) if (!ALL.includes(a as BenchId)) fail(`unknown benchmark "${a}"\n${USAGE}`)
for (const f of flags) if (!['--readme', '--diagnose', '--no-diagnose', '--help'].includes(f)) fail(`unknown option ${f}\n${USAGE}`)
if (flags.has('--help')) {
  console.log(USAGE)
  process.exit(0)
}
const chosen = picked.length ? ALL.filter((b) => picked.includes(b)) : ALL

/** --diagnose: always look for the cause (layers and a CPU profile); --no-diagnose: never; default: on a miss. */
const diagnoseMode = () => (flags.has('--diagnose') ? 'always' : flags.has('--no-diagnose') ? 'never' : 'auto') as 'auto' | 'always' | 'never'

const RUNNERS: Record<BenchId, () => Promise<BenchResult>> = {
  hot: () => hot({ ...HOT_DEFAULTS, diagnose: diagnoseMode() }),
  propagation: () => propagation(),
  fleet: () => fleet(),
  hit: () => hit({ ...HIT_DEFAULTS, diagnose: diagnoseMode() }),
}

const started = new Date()
const results: BenchResult[] = []
let failed = false
for (const id of chosen) {
  const t0 = performance.now()
  console.error(`bench: ${id} …`)
  try {
    results.push(await RUNNERS[id]())
  } catch (e) {
    failed = true
    console.error(`bench: ${id} failed: ${(e as Error).stack ?? e}`)
    results.push({
      id,
      title: LABELS[id],
      rows: [{ bench: LABELS[id], what: 'FAILED', result: String((e as Error).message ?? e).split('\n')[0]!.slice(0, 120), baseline: '', ratio: '', target: '', met: false }],
      details: ['FAILED:', '', '```', String((e as Error).message ?? e), '```'],
    })
  } finally {
    killAll() // anything a failed benchmark left running
  }
  console.error(`bench: ${id} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
}

const date = started.toISOString().replace(/\.\d+Z$/, 'Z')
console.log('')
console.log(consoleTable(results))
console.log('')
const notes = [...toolNotes(), `${chosen.length === ALL.length ? 'All four' : chosen.join(', ')} ran in ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s.`]
const md = resultsMarkdown(results, { date, args: args.join(' '), notes })
const full = chosen.length === ALL.length
const out = full ? join(import.meta.dir, 'results.md') : join(import.meta.dir, 'results', 'partial.md')
mkdirSync(join(out, '..'), { recursive: true })
writeFileSync(out, md)
console.log(`wrote ${out.slice(ROOT.length + 1)}`)

if (flags.has('--readme')) {
  const readme = join(ROOT, 'README.md')
  if (!full) console.error('bench: --readme needs all four benchmarks in one run; README.md left as it is')
  else if (!existsSync(readme)) console.error('bench: README.md does not exist; nothing replaced')
  else {
    try {
      writeFileSync(readme, replaceBlock(readFileSync(readme, 'utf8'), readmeBlock(results, date)))
      console.log('updated README.md')
    } catch (e) {
      console.error(`bench: ${(e as Error).message}`)
      failed = true
    }
  }
}
cleanupWorkDir(failed)
process.exit(failed ? 1 : 0)

function fail(msg: string): never {
  console.error(msg)
  process.exit(2)
}
