/** `dcm watch`: reads GET /config, then long-polls GET /config?wait=60 with If-None-Match; for each new version prints it, then
 *  the fleet summary (GET /agents) whenever it changes, re-read every poll interval the controller gives
 *  (X-Poll-Interval) until every agent that is not stale is in_sync. The pause between two reads is itself
 *  a long-poll for a newer version, so a newer version is printed at once. Ends (0) when `signal` aborts. */
import type { Api, Failure } from './client'
import type { ConfigDoc, Summary } from './contract'
import { summaryLine } from './render'

export type WatchIo = { json: boolean; signal?: AbortSignal; line(text: string): void; fail(f: Failure): number }

const LONG_POLL_SECONDS = 60

export async function watch(api: Api, io: WatchIo): Promise<number> {
  const emit = (event: Record<string, unknown>, human: string) => io.line(io.json ? JSON.stringify(event) : human)
  let etag: string | undefined
  let interval = 5
  let converging: number | null = null
  let last = ''
  let waitingSaid = false
  for (;;) {
    if (io.signal?.aborted) return 0
    if (converging !== null) {
      const f = await api.agents()
      if (io.signal?.aborted) return 0
      // A controller from before the fleet routes has no GET /agents: follow the versions alone.
      if (!f.ok && f.kind === 'refused' && f.error === 'not_found') {
        converging = null
        continue
      }
      if (!f.ok) return io.fail(f)
      const line = summaryLine(f.data.summary)
      if (line !== last) emit({ event: 'fleet', version: converging, summary: f.data.summary }, `  fleet: ${line}`)
      last = line
      if (converged(f.data.summary)) {
        emit({ event: 'converged', version: converging }, `  converged: every agent that is not stale runs version ${converging}`)
        converging = null
        continue
      }
    }
    const started = Date.now()
    // The first read is answered at once (the current version, or no_config); then long-polls.
    const wait = etag === undefined && !waitingSaid ? undefined : converging === null ? LONG_POLL_SECONDS : interval
    const r = await api.config({ wait, etag })
    if (io.signal?.aborted) return 0
    if (!r.ok) {
      if (r.error !== 'no_config') return io.fail(r)
      if (!waitingSaid) emit({ event: 'no_config' }, 'no config set yet; waiting for the first version')
      waitingSaid = true
    } else if (r.status === 200 && r.data) {
      etag = r.headers.get('etag') ?? undefined
      interval = pollInterval(r.headers.get('x-poll-interval'), interval)
      converging = r.data.version
      last = ''
      emit({ event: 'version', config: r.data }, versionLine(r.data))
      continue
    }
    // A long-poll answered early (the replica holds no more of them) must not turn into a busy loop:
    // wait out the rest of the interval.
    if (wait !== undefined) await pause(started + interval * 1000 - Date.now(), io.signal)
  }
}

/** Every agent that is not stale runs the version: none behind, none rejected. */
export const converged = (s: Summary) => s.behind === 0 && s.rejected === 0

const versionLine = (d: ConfigDoc) => `version ${d.version}  ${d.url}${d.timeout_ms === undefined ? '' : `  timeout_ms ${d.timeout_ms}`}  (${d.updated_at})`

/** X-Poll-Interval in seconds, kept within what ?wait accepts (0.1..60); the previous one when absent or odd. */
export function pollInterval(header: string | null, previous: number): number {
  const n = Number(header)
  return header !== null && /^\d+(\.\d+)?$/.test(header) && n > 0 ? Math.min(LONG_POLL_SECONDS, Math.max(0.1, Math.round(n * 1000) / 1000)) : previous
}

/** Wait `ms`, or less if `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
