/** What a figure is, and the report built from what the figures return: tables and a few fixed lines. */
import { cpus, totalmem } from 'node:os'
import type { Tool } from './tools'

/** One line of the summary table; `met` is null where the line has no target of its own. */
export type Row = { measure: string; result: string; baseline: string; ratio: string; target: string; met: boolean | null }

/** A figure's result: its summary rows, the parameters it ran with, and a details table (head first). */
export type Outcome = { rows: Row[]; params: string; details: string[][] }

export type Figure = { id: string; label: string; title: string; tools: Tool[]; run(o: { quick: boolean }): Promise<Outcome> }

/** Thrown by a figure that cannot run here (no database, no privileges): reported, never a made-up figure. */
export class Skip extends Error {}

export const row = (measure: string, result: string, baseline: string, ratio: string, target: string, met: boolean | null): Row => ({ measure, result, baseline, ratio, target, met })

/** A markdown table; `pad` lines the columns up for a terminal. */
export function table([head, ...rows]: string[][], pad = false): string {
  const widths = head!.map((_, i) => Math.max(3, ...[head!, ...rows].map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => `| ${r.map((c, i) => (pad ? c.padEnd(widths[i]!) : c).replace(/\|/g, '\\|')).join(' | ')} |`
  return [line(head!), line(widths.map((w) => '-'.repeat(pad ? w : 3))), ...rows.map(line)].join('\n')
}

/** The summary table of all figures run, one block of rows per figure. */
export function summary(results: { figure: Figure; outcome: Outcome }[], pad = false): string {
  const mark = (met: boolean | null) => (met === null ? '–' : met ? 'met' : 'MISSED')
  const rows = results.flatMap(({ figure, outcome }) =>
    outcome.rows.map((r, i) => [i ? '' : figure.label, r.measure, r.result, r.baseline, r.ratio, r.target, mark(r.met)]),
  )
  return table([['Benchmark', 'Measure', 'Result', 'Baseline', 'Ratio', 'Target', ''], ...rows], pad)
}

export const machine = () =>
  `${navigator.hardwareConcurrency} CPUs (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Bun ${Bun.version}`

export const START = '<!-- bench:start -->'
export const END = '<!-- bench:end -->'

/** Replace what lies between the markers; throws when the text lacks them. */
export function replaceBlock(text: string, block: string): string {
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a === -1 || b === -1 || b < a) throw new Error(`no ${START} … ${END} block`)
  return `${text.slice(0, a + START.length)}\n${block}\n${text.slice(b)}`
}
