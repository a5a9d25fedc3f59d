/** What the fault suites record while faults run, and the checks they make over the whole history
 *  afterwards (etcd's robustness tests keep a history the same way). Times are `Date.now()` on this
 *  machine, the clock the local PostgreSQL cluster shares. */

/** One HTTP call as the client saw it: when it was sent and answered, and its status; `status` null and
 *  `error` set when no answer came (connection broken, timeout). */
export type Exchange = { sent: number; answered: number; status: number | null; body: any; etag: string | null; error?: string }

/** `fetch` that never throws: the answer, or why there was none, with its times. */
export async function exchange(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Exchange> {
  const sent = Date.now()
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 15_000) })
    const text = await res.text()
    let body: any = null
    try {
      body = text ? JSON.parse(text) : null
    } catch {
      body = text
    }
    return { sent, answered: Date.now(), status: res.status, body, etag: res.headers.get('etag') }
  } catch (e) {
    return { sent, answered: Date.now(), status: null, body: null, etag: null, error: (e as Error).message }
  }
}

/** Run `step` again and again, `pauseMs()` apart, until `stop()` says so; resolves when the last step is done. */
export async function repeat(step: () => Promise<void>, pauseMs: () => number, stop: () => boolean): Promise<void> {
  while (!stop()) {
    await step()
    if (!stop()) await Bun.sleep(pauseMs())
  }
}

/** Fire `probe` every `everyMs` without waiting for the previous one (a probe that hangs must not stop
 *  the next from starting); resolves when every probe started has finished. */
export async function every(probe: () => Promise<void>, everyMs: number, stop: () => boolean): Promise<void> {
  const running = new Set<Promise<void>>()
  while (!stop()) {
    const p = probe().finally(() => running.delete(p))
    running.add(p)
    await Bun.sleep(everyMs)
  }
  await Promise.all(running)
}

/** A worker's (or agent's) state as sampled. */
export type Sample = { at: number; store_id: string | null; version: number | null }

/** Promise 3: within one store identity, the sampled version never goes down. */
export function regressions(samples: readonly Sample[], who: string): string[] {
  const out: string[] = []
  const highest = new Map<string, { at: number; version: number }>()
  for (const s of samples) {
    if (s.store_id === null || s.version === null) continue
    const top = highest.get(s.store_id)
    if (top && s.version < top.version) out.push(`${who} went back from version ${top.version} (seen at ${iso(top.at)}) to ${s.version} (at ${iso(s.at)}) in store ${s.store_id}`)
    if (!top || s.version > top.version) highest.set(s.store_id, { at: s.at, version: s.version })
  }
  return out
}

/** A period during which a fault was active. */
export type Window = { kind: string; start: number; end: number; detail: string }

export const iso = (t: number) => new Date(t).toISOString().slice(11, 23)
export const inside = (e: { sent: number; answered: number }, w: { start: number; end: number }) => e.sent >= w.start && e.answered <= w.end
export const overlaps = (e: { sent: number; answered: number }, w: { start: number; end: number }) => e.sent <= w.end && e.answered >= w.start

/** A count per key. */
export const tally = (keys: Iterable<string>) => {
  const out: Record<string, number> = {}
  for (const k of keys) out[k] = (out[k] ?? 0) + 1
  return out
}

/** What a suite run found, printed at its end (and returned to a long-run driver). */
export type SuiteReport = {
  suite: string
  seed: number
  minutes: number
  wall_seconds: number
  faults: Record<string, number>
  writes: Record<string, number>
  notes: string[]
  violations: string[]
}

/** Print the report, and with violations say how to replay the run. */
export function printReport(r: SuiteReport, replay: string) {
  console.log(`[faults] ${r.suite} seed=${r.seed} minutes=${r.minutes} wall=${r.wall_seconds}s faults=${JSON.stringify(r.faults)} writes=${JSON.stringify(r.writes)} violations=${r.violations.length}`)
  for (const n of r.notes) console.log(`[faults]   note: ${n}`)
  for (const v of r.violations.slice(0, 50)) console.log(`[faults]   VIOLATION: ${v}`)
  if (r.violations.length) console.log(`[faults] replay with: DCM_FAULTS_SEED=${r.seed} DCM_FAULTS_MINUTES=${r.minutes} ${replay}`)
}
