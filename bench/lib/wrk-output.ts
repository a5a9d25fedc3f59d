/** Reading wrk's summary (run with --latency). */
export type WrkSummary = {
  requests: number
  seconds: number
  rps: number
  /** Answers with a status outside 2xx/3xx, plus socket errors: any of them makes the run invalid. */
  bad: number
  p50Ms: number
  p99Ms: number
}

const toMs = (v: string, unit: string) => Number(v) * ({ us: 1e-3, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!

export function parseWrk(raw: string): WrkSummary {
  const m = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(raw)
  if (!m) throw new Error(`cannot read wrk's output:\n${raw}`)
  const requests = Number(m[1])
  const seconds = toMs(m[2]!, m[3]!) / 1000
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(raw)?.[1] ?? 0)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw)
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0
  const pct = (p: string) => {
    const x = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(raw)
    return x ? toMs(x[1]!, x[2]!) : NaN
  }
  return { requests, seconds, rps: requests / seconds, bad: non2xx + sockErrors, p50Ms: pct('50'), p99Ms: pct('99') }
}
