/** The four results as a console table, as bench/results.md, and as the README block. */
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'

export type BenchId = 'hot' | 'propagation' | 'fleet' | 'hit'

/** One line of the table. `met` is null when there is no target on the line or it could not be measured. */
export type Row = { bench: string; what: string; result: string; baseline: string; ratio: string; target: string; met: boolean | null }

export type BenchResult = {
  id: BenchId
  title: string
  rows: Row[]
  /** Markdown: setup, parameters and anything a reader needs to trust or question the figures. */
  details: string[]
}

/** The first column of each benchmark's rows. */
export const LABELS: Record<BenchId, string> = { hot: '1 hot path', propagation: '2 propagation', fleet: '3 fleet', hit: '4 worker /hit' }

/** A benchmark that could not run, with the reason; never a made-up figure. */
export function skipped(id: BenchId, title: string, why: string): BenchResult {
  return { id, title, rows: [{ bench: LABELS[id], what: 'SKIPPED', result: why, baseline: '', ratio: '', target: '', met: null }], details: [`SKIPPED: ${why}.`] }
}

const mark = (met: boolean | null) => (met === null ? '–' : met ? 'met' : 'MISSED')

export function consoleTable(results: BenchResult[]): string {
  const head = ['benchmark', 'measure', 'result', 'baseline', 'ratio', 'target', '']
  const rows = results.flatMap((r) => r.rows.map((x) => [x.bench, x.what, x.result, x.baseline, x.ratio, x.target, mark(x.met)]))
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

const cell = (s: string) => s.replace(/\|/g, '\\|')

export function markdownTable(results: BenchResult[]): string {
  const rows = results.flatMap((r) => r.rows.map((x) => `| ${[x.bench, x.what, x.result, x.baseline, x.ratio, x.target, mark(x.met)].map(cell).join(' | ')} |`))
  return ['| Benchmark | Measure | Result | Baseline | Ratio | Target | |', '|---|---|---|---|---|---|---|', ...rows].join('\n')
}

export function machine(): { cpus: number; model: string; memory: string; bun: string } {
  let model = cpus()[0]?.model ?? 'unknown'
  try {
    model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model
  } catch {}
  return { cpus: navigator.hardwareConcurrency, model, memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`, bun: Bun.version }
}

export function resultsMarkdown(results: BenchResult[], meta: { date: string; args: string; notes: string[] }): string {
  const m = machine()
  return [
    '# dcm benchmarks',
    '',
    `Run ${meta.date} on ${m.cpus} CPUs (\`nproc\`), ${m.model}, ${m.memory} memory; Bun ${m.bun}; \`bun bench/run.ts${meta.args ? ` ${meta.args}` : ''}\`.`,
    '',
    markdownTable(results),
    '',
    '## How to reproduce',
    '',
    '```sh',
    'bun run bench                 # all four, about 3 minutes',
    'bun bench/run.ts hot          # or one of: hot propagation fleet hit',
    'bun run bench --readme        # also write the table into README.md',
    'bun run bench --diagnose      # look for causes (layers, CPU profile) even when a target is met',
    '```',
    '',
    'Targets missed in hot path or /hit are diagnosed in the same run (unless `--no-diagnose`): the app rebuilt layer by layer from its own modules (`bench/baselines/*-variants.ts`) under the same load, and a CPU profile of the real service (`bun --cpu-prof-md`).',
    '',
    'Needs `wrk`, `nginx` and `etcd` (as root the script installs the Debian packages `wrk`, `nginx-light`, `etcd-server` and `etcd-client` with apt-get; otherwise the figure that needs a missing one is skipped and says so), and PostgreSQL at `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`; each run creates and drops its own database). Everything runs on loopback on the one machine: the load generator, the services and the baselines share its cores.',
    ...(meta.notes.length ? ['', ...meta.notes.map((n) => `- ${n}`)] : []),
    '',
    ...results.flatMap((r) => [`## ${r.title}`, '', ...r.details, '']),
  ].join('\n')
}

/** The README block: the table and a line on where and how it was measured. */
export function readmeBlock(results: BenchResult[], date: string): string {
  const m = machine()
  return [
    markdownTable(results),
    '',
    `Measured ${date} on ${m.cpus} CPUs (${m.model}), ${m.memory}, Bun ${m.bun}, by \`bun run bench\`; details and method in [bench/results.md](bench/results.md).`,
  ].join('\n')
}

export const START = '<!-- bench:start -->'
export const END = '<!-- bench:end -->'

/** Replace what lies between the markers; throws when the file lacks them. */
export function replaceBlock(text: string, block: string): string {
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a === -1 || b === -1 || b < a) throw new Error(`README.md has no ${START} … ${END} block`)
  return `${text.slice(0, a + START.length)}\n${block}\n${text.slice(b)}`
}
