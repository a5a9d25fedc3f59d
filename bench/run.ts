/** `bun run bench` — each figure beside its baseline, measured in the same run.
 *
 *    bun run bench [-- [hot|propagation|fleet|hit|replicas|idle ...] [--quick] [--install-tools] [--readme]]
 *
 *  Prints the tables. A full run (all figures, no --quick) also rewrites the generated block of
 *  bench/results.md, and with --readme the one in README.md. A figure is one file exporting a Figure,
 *  and one line in FIGURES. */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { killAll } from '../test/kit'
import fleet from './fleet'
import hit from './hit'
import hot from './hot'
import idle from './idle'
import { ROOT } from './lib/dcm'
import { machine, replaceBlock, row, Skip, summary, table, type Figure, type Outcome } from './lib/report'
import { install, PACKAGES, which } from './lib/tools'
import propagation from './propagation'
import replicas from './replicas'

const FIGURES: Figure[] = [hot, propagation, fleet, hit, replicas, idle]

const USAGE = `usage: bun run bench -- [${FIGURES.map((f) => f.id).join('|')} ...] [--quick] [--install-tools] [--readme]`
const usage = (why: string) => (console.error(`bench: ${why}\n${USAGE}`), process.exit(2))
const args = process.argv.slice(2)
const flags = new Set(args.filter((a) => a.startsWith('--')))
const picked = args.filter((a) => !a.startsWith('--'))
for (const a of args) if (!FIGURES.some((f) => f.id === a) && !['--quick', '--install-tools', '--readme'].includes(a)) usage(`unknown ${a}`)
const chosen = FIGURES.filter((f) => !picked.length || picked.includes(f.id))
const quick = flags.has('--quick')
const full = chosen.length === FIGURES.length && !quick
if (flags.has('--readme') && !full) usage('--readme needs a full run (all figures, no --quick); nothing was run')

const needed = [...new Set(chosen.flatMap((f) => f.tools))]
const absent = () => needed.filter((t) => !which(t))
if (flags.has('--install-tools') && absent().length) install(absent())
for (const t of absent()) {
  const by = chosen.filter((f) => f.tools.includes(t)).map((f) => f.label)
  console.error(`bench: ${t} is missing (Debian package ${PACKAGES[t]}), so ${by.join(' and ')} will be skipped; \`bun run bench -- --install-tools\` (runs apt-get, root only) installs it`)
}

const started = new Date()
const results: { figure: Figure; outcome: Outcome }[] = []
let failed = false
for (const figure of chosen) {
  const t0 = performance.now()
  const lacking = figure.tools.filter((t) => !which(t))
  console.error(`bench: ${figure.label} …`)
  try {
    if (lacking.length) throw new Skip(`${lacking.join(' and ')} missing (bun run bench -- --install-tools)`)
    results.push({ figure, outcome: await figure.run({ quick }) })
  } catch (e) {
    const skip = e instanceof Skip
    failed ||= !skip
    if (!skip) console.error(`bench: ${figure.label} failed: ${(e as Error).stack ?? e}`)
    const why = String((e as Error).message ?? e).split('\n')[0]!.slice(0, 160)
    results.push({ figure, outcome: { rows: [row(skip ? 'SKIPPED' : 'FAILED', why, '', '', '', skip ? null : false)], params: `${skip ? 'Skipped' : 'Failed'}: ${why}`, details: [] } })
  } finally {
    killAll() // whatever the figure left running
  }
  console.error(`bench: ${figure.label} done in ${((performance.now() - t0) / 1000).toFixed(0)} s`)
}

const date = started.toISOString().replace(/\.\d+Z$/, 'Z')
const report = (pad: boolean) =>
  [
    `Run ${date} on ${machine()}: \`bun bench/run.ts${args.length ? ` ${args.join(' ')}` : ''}\`, ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s.`,
    '',
    summary(results, pad),
    ...results.flatMap(({ figure, outcome }) => ['', `### ${figure.label}: ${figure.title}`, '', outcome.params, ...(outcome.details.length ? ['', table(outcome.details, pad)] : [])]),
  ].join('\n')
console.log(`\n${report(true)}\n`)
const write = (file: string, block: string) => writeFileSync(join(ROOT, file), replaceBlock(readFileSync(join(ROOT, file), 'utf8'), block))
if (full) write('bench/results.md', report(false))
else console.log('bench/results.md is written by full runs only (all figures, no --quick)')
if (flags.has('--readme')) write('README.md', `${summary(results)}\n\nMeasured ${date} on ${machine()}, by \`bun run bench\`; details and method in [bench/results.md](bench/results.md).`)
process.exit(failed ? 1 : 0)
