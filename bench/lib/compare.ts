/** Side-by-side throughput: several targets measured with identical wrk parameters in alternating
 *  rounds, so drift on a shared machine (other processes, CPU frequency) lands on all of them alike. */
import { fmtMs, fmtRps } from './stats'
import { wrk, type WrkOptions, type WrkResult } from './wrk'
import type { WrkSummary } from './wrk-output'

export type Target = { name: string; url: string; pid: number }

export type Totals = WrkSummary & {
  name: string
  /** Cores used, on average over the runs: by the target, by wrk, by everything else on the machine. */
  serverCpu: number
  wrkCpu: number
  otherCpu: number
  /** Server CPU time per request, in µs: what the target spends on one answer, whatever the load around it. */
  cpuUsPerRequest: number
  roundsRps: number[]
}

export async function compare(
  targets: Target[],
  o: { rounds: number; seconds: number; warmupSeconds: number; connections: number; threads?: number; headers?: Record<string, string> | ((t: Target) => Record<string, string>) },
): Promise<Record<string, Totals>> {
  const opts = (t: Target, seconds: number): WrkOptions => ({
    threads: o.threads ?? 1,
    connections: o.connections,
    seconds,
    headers: typeof o.headers === 'function' ? o.headers(t) : o.headers,
  })
  if (o.warmupSeconds > 0) for (const t of targets) await wrk(t.url, opts(t, o.warmupSeconds), t.pid)
  const runs = new Map<string, WrkResult[]>(targets.map((t) => [t.name, []]))
  const slice = Math.max(1, Math.round(o.seconds / o.rounds))
  for (let r = 0; r < o.rounds; r++) {
    // Rotate the order each round so no target always runs first or last.
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!)
    for (const t of order) runs.get(t.name)!.push(await wrk(t.url, opts(t, slice), t.pid))
  }
  const out: Record<string, Totals> = {}
  for (const t of targets) {
    const rs = runs.get(t.name)!
    const requests = rs.reduce((a, x) => a + x.requests, 0)
    const seconds = rs.reduce((a, x) => a + x.seconds, 0)
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    out[t.name] = {
      name: t.name,
      requests,
      seconds,
      rps: requests / seconds,
      bad: rs.reduce((a, x) => a + x.bad, 0),
      p50Ms: median(rs.map((x) => x.p50Ms)),
      p99Ms: median(rs.map((x) => x.p99Ms)),
      serverCpu: avg(rs.map((x) => x.serverCpu)),
      wrkCpu: avg(rs.map((x) => x.wrkCpu)),
      otherCpu: avg(rs.map((x) => x.otherCpu)),
      cpuUsPerRequest: (rs.reduce((a, x) => a + x.serverCpuSeconds, 0) / requests) * 1e6,
      roundsRps: rs.map((x) => x.rps),
    }
  }
  return out
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

/** The median over rounds of a's req/s over b's in the same round: less sensitive to a burst of
 *  outside load than the ratio of the totals. */
export function pairedRatio(a: Totals, b: Totals): number {
  const rs = a.roundsRps.map((x, i) => x / b.roundsRps[i]!).sort((x, y) => x - y)
  return rs[Math.floor(rs.length / 2)]!
}

/** Throw when any answer was not 2xx/3xx or a socket failed: such a run measured something else. */
export function assertClean(totals: Record<string, Totals>) {
  const bad = Object.values(totals).filter((t) => t.bad > 0)
  if (bad.length) throw new Error(`wrk saw error answers or socket errors: ${bad.map((t) => `${t.name} ${t.bad}`).join(', ')}`)
}

/** Markdown table of targets measured side by side. */
export function totalsTable(rows: [label: string, t: Totals][]): string[] {
  return [
    '| Target | req/s | p50 | p99 | server CPU | CPU µs / request | wrk CPU | other load | req/s per round |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      ([n, t]) =>
        `| ${n} | ${fmtRps(t.rps)} | ${fmtMs(t.p50Ms)} | ${fmtMs(t.p99Ms)} | ${pct(t.serverCpu)} | ${t.cpuUsPerRequest.toFixed(1)} | ${pct(t.wrkCpu)} | ${pct(t.otherCpu)} | ${t.roundsRps.map((v) => Math.round(v / 1000)).join(' ')} k |`,
    ),
  ]
}

const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : 'n/a')

/** What the CPU columns mean, for the reader. */
export const CPU_NOTE =
  'CPU columns are CPU time over wall time, 100% = one core of the two: the target process, wrk, and every other process on the machine (load from outside the benchmark, e.g. another job; high values mean the figures are noisier). "CPU µs / request" is the target\'s CPU time divided by the requests it answered: its cost per answer, much less sensitive to that outside load than req/s.'
