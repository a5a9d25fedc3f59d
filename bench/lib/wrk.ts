/** wrk, and targets measured side by side: the same parameters, short rounds taking turns in a rotating
 *  order, so drift on a shared machine (other jobs, CPU frequency) lands on every target alike. */
import { readFileSync } from 'node:fs'
import { run } from './dcm'
import { cpuSeconds, machineBusySeconds, reapedSeconds } from './proc'
import { row, type Outcome } from './report'
import { fmtMs, fmtRps, pct, percentile } from './stats'

export type WrkSummary = { requests: number; seconds: number; rps: number; bad: number; p50Ms: number; p99Ms: number }

const toMs = (v: string, unit: string) => Number(v) * ({ us: 1e-3, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!

/** wrk's summary (run with --latency). `bad` counts answers outside 2xx/3xx and socket errors. */
export function parseWrk(raw: string): WrkSummary {
  const m = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(raw)
  if (!m) throw new Error(`cannot read wrk's output:\n${raw}`)
  const requests = Number(m[1])
  const seconds = toMs(m[2]!, m[3]!) / 1000
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(raw)?.[1] ?? 0)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw)?.slice(1) ?? []
  const pctl = (p: string) => ((x) => (x ? toMs(x[1]!, x[2]!) : NaN))(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(raw))
  return { requests, seconds, rps: requests / seconds, bad: non2xx + sock.reduce((a, b) => a + Number(b), 0), p50Ms: pctl('50'), p99Ms: pctl('99') }
}

/** `pid` is the process whose CPU is counted (for nginx, its worker). */
export type Target = { label: string; url: string; pid: number; headers?: Record<string, string> }
type Round = WrkSummary & { cpu: number; other: number }

async function wrk(t: Target, connections: number, seconds: number): Promise<Round> {
  const headers = Object.entries(t.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
  const [cpu0, busy0, reaped0, t0] = [cpuSeconds(t.pid), machineBusySeconds(), reapedSeconds(), performance.now()]
  const p = run('wrk', ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s', ...headers, t.url])
  await Promise.race([p.proc.exited, Bun.sleep((seconds + 20) * 1000)])
  const cpu = cpuSeconds(t.pid) - cpu0
  await p.stop()
  const wall = (performance.now() - t0) / 1000
  const raw = readFileSync(p.log, 'utf8')
  if (p.proc.exitCode !== 0) throw new Error(`wrk did not finish cleanly (exit ${p.proc.exitCode ?? p.proc.signalCode}):\n${raw}`)
  const s = parseWrk(raw)
  if (s.bad) throw new Error(`${t.label}: wrk saw ${s.bad} error answers or socket errors, so the run measured something else`)
  // Everything but the target and wrk: load from outside the bench, which makes the figures noisier.
  return { ...s, cpu, other: (machineBusySeconds() - busy0 - cpu - (reapedSeconds() - reaped0)) / wall }
}

const SETTINGS = { full: { rounds: 10, seconds: 1, warmup: 2, connections: 50 }, quick: { rounds: 5, seconds: 1, warmup: 1, connections: 50 } }

/** The first target is the baseline: a summary row per other target with its ratio to it, `goal` the
 *  target ratio of the first; details per target over all rounds. The ratio that counts is the median
 *  of the per-round ratios (each round measures every target back to back, so a burst of outside load
 *  spoils one round, not the figure); the ratio of the totals is shown beside it. `roundRps` holds each
 *  target's req/s per round (round r of every target measured back to back), for ratios between two
 *  targets that are not the baseline. */
export async function versus(targets: Target[], goal: number, quick: boolean): Promise<Outcome & { roundRps: number[][] }> {
  const o = SETTINGS[quick ? 'quick' : 'full']
  for (const t of targets) await wrk(t, o.connections, o.warmup)
  const runs = targets.map(() => [] as Round[])
  for (let r = 0; r < o.rounds; r++)
    for (let i = 0; i < targets.length; i++) {
      const j = (i + r) % targets.length
      runs[j]!.push(await wrk(targets[j]!, o.connections, o.seconds))
    }
  const sum = (rs: Round[], f: (x: Round) => number) => rs.reduce((a, x) => a + f(x), 0)
  const rps = runs.map((rs) => sum(rs, (x) => x.requests) / sum(rs, (x) => x.seconds))
  const perRound = (i: number) => percentile(runs[i]!.map((x, r) => x.rps / runs[0]![r]!.rps), 50)
  const rows = targets.slice(1).map((t, i) => {
    const ratio = perRound(i + 1)
    const baseline = i ? 'same run' : `${fmtRps(rps[0]!)} (${targets[0]!.label})`
    return row(t.label, fmtRps(rps[i + 1]!), baseline, `${ratio.toFixed(2)} (median of ${o.rounds})`, i ? `(≥ ${goal})` : `≥ ${goal}`, i ? null : ratio >= goal)
  })
  const details = targets.map((t, i) => {
    const rs = runs[i]!
    const rounds = rs.map((x) => Math.round(x.rps / 1000)).join(' ')
    return [t.label, fmtRps(rps[i]!), perRound(i).toFixed(2), (rps[i]! / rps[0]!).toFixed(2), fmtMs(percentile(rs.map((x) => x.p99Ms), 50)),
      ((sum(rs, (x) => x.cpu) / sum(rs, (x) => x.requests)) * 1e6).toFixed(1), pct(sum(rs, (x) => x.other) / rs.length), rounds]
  })
  const head = ['Target', 'req/s', 'ratio, median of rounds', 'ratio of totals', 'p99, median of rounds', 'CPU µs / answer', 'other load', 'k req/s per round']
  return { rows, roundRps: runs.map((rs) => rs.map((x) => x.rps)), params: `wrk -t1 -c${o.connections}; ${o.rounds} rounds of ${o.seconds} s per target, rotating, after ${o.warmup} s of warm-up each`, details: [head, ...details] }
}
