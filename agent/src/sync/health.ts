import { bucketQuantile } from '@dcm/shared'

/** What one probe of the worker's GET /state says about /hit for the config it runs. `key` names that
 *  applied config (store, version, applied_at): a new version or a restarted worker is a new key. */
type Reading = { key: string; version: number; total: number; err: number; le: number[] | null; counts: number[] | null; p99: number }

/** Hits of one applied config not yet reported to the controller. */
export type HealthDelta = { key: string; version: number; total: number; err: number; le: number[] | null; counts: number[] | null; p99: number }

/** Versions whose unreported hits are kept at once (the oldest is dropped beyond this). */
const MAX_PENDING = 8

/** The worker's health as the controller hears it (X-Worker-Health): from successive probes of the
 *  worker's /state, the hits since the last report, per applied config. A delta counts as reported once a
 *  poll carrying it got an answer; until then every poll carries it again, with what came since added. */
export class WorkerHealth {
  /** The last probe's reading (null before the first probe: what the worker counted before this agent
   *  started may have been reported by its predecessor, so the first probe is only a base). */
  #last: Reading | null | undefined = undefined
  #pending: HealthDelta[] = []
  #reportedAt = -Infinity

  /** A probe's answer (the parsed /state body); `ours`: the worker holds a version of our store (hits of
   *  a config from another store are not counted). Returns whether it found hits not seen before. */
  observe(state: unknown, ours: boolean): boolean {
    const now = ours ? readingOf(state) : null
    const last = this.#last
    this.#last = now
    if (now === null || last === undefined) return false
    // A new config, or the same one counting from zero again (a restart, counts went down): all its
    // hits are new. Otherwise the difference since the last probe.
    const base = last !== null && last.key === now.key && !wentDown(last, now) ? last : null
    const total = now.total - (base?.total ?? 0)
    const err = now.err - (base?.err ?? 0)
    if (total <= 0 && err <= 0) return false
    const counts = now.counts && (base === null ? [...now.counts] : base.counts && base.counts.length === now.counts.length ? now.counts.map((c, i) => c - base.counts![i]!) : null)
    let d = this.#pending.find((p) => p.key === now.key)
    if (d === undefined) {
      d = { key: now.key, version: now.version, total: 0, err: 0, le: now.le, counts: now.counts && now.counts.map(() => 0), p99: 0 }
      this.#pending.push(d)
      if (this.#pending.length > MAX_PENDING) this.#pending.shift()
    }
    d.total += total
    d.err += err
    d.p99 = now.p99
    if (d.counts && counts && d.counts.length === counts.length) for (let i = 0; i < counts.length; i++) d.counts[i]! += counts[i]!
    else d.counts = null
    return true
  }

  /** What the next poll carries: the oldest unreported delta as the header's value, or null when there is
   *  nothing to report. `delivered` is called once a poll carrying it got an answer. */
  next(now: () => number): { header: string; delivered: () => void } | null {
    const d = this.#pending[0]
    if (d === undefined) return null
    const sent = { ...d, counts: d.counts && [...d.counts] }
    return { header: healthHeader(sent), delivered: () => this.#delivered(sent, now()) }
  }

  /** There are unreported hits and the last report is at least `intervalMs` old: a held poll should end
   *  so that the controller hears them. */
  due(now: number, intervalMs: number): boolean {
    return this.#pending.length > 0 && now - this.#reportedAt >= intervalMs
  }

  /** The unreported deltas (for tests and /state). */
  get pending(): readonly HealthDelta[] {
    return this.#pending
  }

  #delivered(sent: HealthDelta, now: number) {
    this.#reportedAt = now
    const i = this.#pending.findIndex((p) => p.key === sent.key)
    const d = this.#pending[i]
    if (d === undefined) return
    d.total -= sent.total
    d.err -= sent.err
    if (d.counts && sent.counts && d.counts.length === sent.counts.length) for (let j = 0; j < d.counts.length; j++) d.counts[j]! -= sent.counts[j]!
    if (d.total <= 0 && d.err <= 0) this.#pending.splice(i, 1)
  }
}

/** The header's value: `v=<version>;total=<hits>;err=<errors>;p99=<ms>`. p99 from the delta's own
 *  latency buckets when the worker exposes them (the upper bound of the bucket, 0 when no upstream call
 *  was timed), else the worker's p99 for the whole version. */
export function healthHeader(d: HealthDelta): string {
  const p99 = d.le && d.counts ? bucketQuantile(d.le, d.counts, 0.99) : d.p99
  return `v=${d.version};total=${d.total};err=${d.err};p99=${Math.round(p99)}`
}

const wentDown = (a: Reading, b: Reading) => b.total < a.total || b.err < a.err || (a.counts !== null && b.counts !== null && b.counts.some((c, i) => c < (a.counts![i] ?? 0)))

const count = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null)
const counts = (v: unknown): number[] | null => (Array.isArray(v) && v.every((c) => count(c) !== null) ? (v as number[]) : null)

/** The hits of a /state body, or null when it shows none we can read (no config yet, an older worker). */
function readingOf(state: unknown): Reading | null {
  const s = state as { store_id?: unknown; applied_at?: unknown; hits?: Record<string, unknown> } | null
  const h = s?.hits
  if (!h || typeof h !== 'object') return null
  const version = count(h.version)
  const total = count(h.total)
  const byClass = h.by_class as Record<string, unknown> | undefined
  const fivexx = count(byClass?.['5xx'])
  const failures = count(h.upstream_failures)
  if (version === null || total === null || fivexx === null || failures === null) return null
  const b = h.buckets as { le_ms?: unknown; counts?: unknown } | undefined
  const le = counts(b?.le_ms)
  const c = counts(b?.counts)
  const histogram = le !== null && c !== null && c.length === le.length + 1
  return {
    key: `${String(s?.store_id)}/${version}/${String(s?.applied_at)}`,
    version,
    total,
    err: fivexx + failures,
    le: histogram ? le : null,
    counts: histogram ? c : null,
    p99: count(h.p99_ms) ?? 0,
  }
}
