/** `dcm rollout status --watch`: prints the rollout, then re-reads it (GET /rollouts/:id) every 2 s and prints
 *  what changed — state or step, each new decision, the cohort's and the stable agents' health — until it
 *  ends. The rollout routes have no long-poll, so this is a plain poll; by id, because GET /rollouts/current
 *  answers 404 once it has ended. A controller that is briefly gone (a restart: the rollout continues where it
 *  was) is waited for, up to MAX_MISSES reads in a row. Exit 0 when it completed, 1 when rolled back or
 *  aborted, 130 on Ctrl-C. */
import type { Api, Failure } from './client'
import type { Decision, Rollout, RolloutState } from './contract'
import { decisionLine, healthLine, LAST_DECISIONS, rolloutFields, stepLine } from './render'
import { pause } from './watch'

export type RolloutWatchIo = {
  json: boolean
  signal?: AbortSignal
  everyMs?: number
  line(text: string): void
  /** A note on stderr (the controller went away; still trying). */
  warn(text: string): void
  fail(f: Failure): number
}

export const WATCH_EVERY_MS = 2000
/** Reads in a row that may fail (unreachable or 5xx) before watch gives up: a minute at 2 s. */
export const MAX_MISSES = 30
const ENDED: Record<RolloutState, number | null> = { running: null, paused: null, completed: 0, rolled_back: 1, aborted: 1 }
const INTERRUPTED = 130

export async function watchRollout(api: Api, first: Rollout, io: RolloutWatchIo): Promise<number> {
  const every = io.everyMs ?? WATCH_EVERY_MS
  let previous: Rollout | null = null
  let r = first
  let misses = 0
  for (;;) {
    for (const l of changes(previous, r, io.json)) io.line(l)
    const code = ENDED[r.state]
    if (code !== null && code !== undefined) {
      io.line(io.json ? JSON.stringify({ event: 'end', id: r.id, state: r.state, reason: r.reason, rollback_version: r.rollback_version }) : endLine(r))
      return code
    }
    await pause(every, io.signal)
    if (io.signal?.aborted) return INTERRUPTED
    const next = await api.rollout(r.id)
    if (io.signal?.aborted) return INTERRUPTED
    if (!next.ok) {
      if (next.kind === 'refused' || ++misses > MAX_MISSES) return io.fail(next)
      if (misses === 1) io.warn(`dcm: no answer from the controller (${next.kind === 'unreachable' ? next.message : `${next.error}, HTTP ${next.status}`}); trying again every ${every / 1000} s`)
      continue
    }
    if (misses > 0) io.warn('dcm: the controller answers again')
    misses = 0
    previous = r
    r = next.data
  }
}

const key = (d: Decision) => `${d.at}|${d.action}|${d.step}|${d.detail}`

/** The lines to print for `r` after `previous` (everything when there is none). */
export function changes(previous: Rollout | null, r: Rollout, json: boolean): string[] {
  if (json) return previous !== null && JSON.stringify(previous) === JSON.stringify(r) ? [] : [JSON.stringify({ event: 'rollout', rollout: r })]
  if (previous === null) return [rolloutFields(r, LAST_DECISIONS)]
  const out: string[] = []
  const seen = new Set(previous.decisions.map(key))
  for (const d of r.decisions) if (!seen.has(key(d))) out.push(`decision  ${decisionLine(d)}`)
  if (previous.state !== r.state || previous.step !== r.step) out.push(`state     ${r.state}, step ${stepLine(r)}`)
  const health = (x: Rollout) => `cohort    ${healthLine(x.cohort)}\nstable    ${healthLine(x.stable)}`
  if (health(previous) !== health(r)) out.push(health(r))
  return out
}

const endLine = (r: Rollout) =>
  r.state === 'completed'
    ? `rollout ${r.id} completed: version ${r.version} is the stable version for every agent`
    : `rollout ${r.id} ${r.state}${r.reason === null ? '' : `: ${r.reason}`}${r.rollback_version === null ? '' : ` (rollback version ${r.rollback_version})`}`
