/** The promises of issue #10, checked over a whole history (history.ts). Pure functions: each returns
 *  the violations it finds, each a sentence a person can act on.
 *
 *  1. No acknowledged version is ever lost, and nothing answered 503 ever appears.
 *  2. An agent's persisted state is never unreadable and never older than what it acknowledged (what it
 *     showed at its /state, or reported to the controller as applied); its agent_id never changes.
 *  3. A worker never goes to an older config within one store identity.
 *  4. After any fault heals, every agent and worker converges to the controller's current config within
 *     the deadline the heal names (the backoff cap plus a few seconds).
 *  And no process dies on its own: every death is the scenario's or a fail point's.
 *
 *  URLs are compared as /state shows them (masked); the scenarios use URLs that masking leaves alone. */
import type { Event, Seen } from './history'

export type Violation = { promise: 1 | 2 | 3 | 4 | 'exit'; at: number; message: string }

/** Every violation of the history, the first of each kind only, in time order. */
export function check(events: readonly Event[]): Violation[] {
  const all = [...promise1(events), ...promise2(events), ...promise3(events), ...promise4(events), ...exits(events)]
  const seen = new Set<string>()
  return all
    .sort((a, b) => a.at - b.at)
    .filter((v) => {
      const key = `${v.promise} ${v.message}`
      return !seen.has(key) && !!seen.add(key)
    })
}

export const formatViolation = (v: Violation) => `promise ${v.promise}, at ${secs(v.at)}: ${v.message}`

type Of<T extends Event['type']> = Extract<Event, { type: T }>
const only = <T extends Event['type']>(events: readonly Event[], type: T) => events.filter((e): e is Of<T> => e.type === type)
const secs = (ms: number) => `${(ms / 1000).toFixed(3)} s`
const store = (id: string | null) => (id === null ? 'no store' : `store ${id.slice(0, 8)}`)
const doc = (s: Seen) => (s.version === null ? 'no config' : `version ${s.version} of ${store(s.store_id)}`)
const who = (e: Of<'agent'> | Of<'agent-file'> | Of<'worker'>) =>
  e.type === 'worker' ? `worker ${e.slot}` : e.type === 'agent' ? `agent ${e.slot} (its /state)` : `agent ${e.slot}'s state file`
/** What an agent acknowledged: shown at its /state, or reported to the controller as applied. */
type Ack = Of<'agent'> | Of<'reported'>
const acker = (e: Ack, slot: number) => (e.type === 'agent' ? `${who(e)} showed` : `agent ${slot} reported to the controller as applied`)
const isAck = (w: Of<'write'>): w is Of<'write'> & { version: number; store_id: string } =>
  (w.status === 201 || w.status === 200) && w.version !== undefined && w.store_id !== undefined

/** 1: every acknowledged write (201, or 200 for the current one again) is in every later reading of the
 *  store with its URL; a URL whose every answer was a refusal is never stored nor held anywhere. A write
 *  with no answer (the controller died) may be either. */
export function promise1(events: readonly Event[]): Violation[] {
  const out: Violation[] = []
  const writes = only(events, 'write')
  const acks = writes.filter(isAck)
  const ackedAs = new Map<string, Of<'write'>>()
  for (const a of acks) {
    const k = `${a.store_id}/${a.version}`
    const first = ackedAs.get(k)
    if (!first) ackedAs.set(k, a)
    else if (first.url !== a.url)
      out.push({ promise: 1, at: a.at, message: `version ${a.version} of ${store(a.store_id)} was acknowledged for two URLs: ${first.url} and ${a.url}` })
  }
  const answers = new Map<string, (number | null)[]>()
  for (const w of writes) answers.set(w.url, [...(answers.get(w.url) ?? []), w.status])
  const refused = new Map([...answers].filter(([, s]) => s.every((x) => x !== null && x >= 400)).map(([url, s]) => [url, s[0]!]))

  for (const s of only(events, 'store')) {
    const held = new Map(s.versions.map((r) => [r.version, r.url]))
    for (const a of acks) {
      if (a.sent >= s.at) continue
      const lost = `${a.url}, acknowledged (${a.status}) as version ${a.version} of ${store(a.store_id)} at ${secs(a.at)}`
      if (a.store_id !== s.store_id) out.push({ promise: 1, at: s.at, message: `${lost}, is lost: the store now has another identity (${store(s.store_id)})` })
      else if (!held.has(a.version)) out.push({ promise: 1, at: s.at, message: `${lost}, is missing from the store` })
      else if (held.get(a.version) !== a.url) out.push({ promise: 1, at: s.at, message: `${lost}, is stored with another URL: ${held.get(a.version)}` })
    }
    for (const r of s.versions)
      if (refused.has(r.url)) out.push({ promise: 1, at: s.at, message: `${r.url} was answered ${refused.get(r.url)}, yet the store holds it as version ${r.version}` })
  }
  for (const e of events) {
    if ((e.type !== 'agent' && e.type !== 'agent-file' && e.type !== 'worker') || e.url === null) continue
    if (refused.has(e.url)) out.push({ promise: 1, at: e.at, message: `${who(e)} held ${e.url}, which was answered ${refused.get(e.url)}` })
    const a = ackedAs.get(`${e.store_id}/${e.version}`)
    if (a && a.url !== e.url) out.push({ promise: 1, at: e.at, message: `${who(e)} held ${doc(e)} as ${e.url}, but it was acknowledged as ${a.url}` })
  }
  return out
}

/** 2: what an agent acknowledged (shown at its /state, or reported to the controller as applied, as the
 *  controller's GET /agents shows it) is in its state file at every kill, readable, with the same
 *  agent_id; and an agent restarted never shows less than it showed before. Its worker may hold a version
 *  its file does not yet (the agent pushes while it saves): that is not an acknowledgement, the report
 *  that follows the save is. One pass over the history per agent. */
export function promise2(events: readonly Event[]): Violation[] {
  const out: Violation[] = []
  for (const slot of agentSlots(events)) {
    // Its reports are known by its agent_id (which never changes: checked below).
    const own = events.find((e): e is Of<'agent'> | Of<'agent-file'> => (e.type === 'agent' || e.type === 'agent-file') && e.slot === slot && e.agent_id !== null)?.agent_id
    let id: string | null = null
    let last: Of<'agent'> | null = null
    // What was acknowledged so far: the store of the latest acknowledgement, and per store the newest
    // version acknowledged and the newest worker confirmation shown.
    let latest: Ack | null = null
    const newest = new Map<string | null, Ack>()
    const confirmed = new Map<string | null, number>()
    const ofSlot = (e: Event): e is Ack | Of<'agent-file'> => (e.type === 'reported' ? e.agent_id === own : (e.type === 'agent' || e.type === 'agent-file') && e.slot === slot)
    for (const e of events) {
      if (!ofSlot(e)) continue
      if (e.type === 'agent-file') {
        fileAfterKill(out, e, id, latest && newest.get(latest.store_id)!, confirmed.get(latest?.store_id ?? null) ?? null)
        if (e.from !== 'none') id ??= e.agent_id
        continue
      }
      if (e.type === 'agent') {
        if (e.agent_id !== null && id !== null && e.agent_id !== id) out.push({ promise: 2, at: e.at, message: `agent ${slot}'s agent_id changed from ${id} to ${e.agent_id}` })
        id ??= e.agent_id
        if (last && e.version !== null && last.store_id === e.store_id && e.version < last.version!)
          out.push({ promise: 2, at: e.at, message: `agent ${slot} went back from ${doc(last)} to ${doc(e)} (life ${last.life} → ${e.life})` })
        if (e.version !== null) last = e
        if (e.worker_version !== null) confirmed.set(e.store_id, Math.max(confirmed.get(e.store_id) ?? -1, e.worker_version))
      }
      if (e.version === null) continue
      latest = e
      if (e.version > (newest.get(e.store_id)?.version ?? -1)) newest.set(e.store_id, e)
    }
  }
  return out
}

/** The state file read after a kill, against what the agent had acknowledged before it. */
function fileAfterKill(out: Violation[], f: Of<'agent-file'>, id: string | null, newest: Ack | null, confirmed: number | null) {
  const died = `after agent ${f.slot} died (life ${f.life})`
  const add = (message: string) => out.push({ promise: 2, at: f.at, message: `${died} its state file ${message}` })
  if (f.problems.length) add(`was damaged: ${f.problems.join('; ')} (loaded from: ${f.from})`)
  if (f.from === 'none') {
    if (id !== null || newest) add(`was missing or unreadable, though it had shown agent_id ${id} and ${newest ? doc(newest) : 'no config'}`)
    return
  }
  if (id !== null && f.agent_id !== id) add(`holds agent_id ${f.agent_id}, not ${id}`)
  if (!newest) return
  if (f.store_id !== newest.store_id) add(`holds ${doc(f)}, but it had acknowledged ${doc(newest)}`)
  else if (f.version! < newest.version!) add(`holds ${doc(f)}, older than ${doc(newest)}, which ${acker(newest, f.slot)} at ${secs(newest.at)}`)
  else if (confirmed !== null && (f.worker_version ?? -1) < confirmed) add(`says the worker confirmed version ${f.worker_version}, though its /state had shown ${confirmed}`)
}

const agentSlots = (events: readonly Event[]) => [...new Set(only(events, 'start').flatMap((e) => (e.target === 'agent' ? [e.slot!] : [])))]

/** 3: within one store identity, a worker's version only moves forward. */
export function promise3(events: readonly Event[]): Violation[] {
  const out: Violation[] = []
  const last = new Map<number, Of<'worker'>>()
  for (const e of only(events, 'worker')) {
    if (e.version === null) continue
    const prev = last.get(e.slot)
    if (prev && prev.store_id === e.store_id && e.version < prev.version!)
      out.push({ promise: 3, at: e.at, message: `worker ${e.slot} went back from ${doc(prev)} (seen at ${secs(prev.at)}) to ${doc(e)}` })
    last.set(e.slot, e)
  }
  return out
}

/** 4: after each heal, every agent (its config, and its worker's confirmation) and every worker shows
 *  the controller's current config within the heal's deadline, and each /hit after it calls that URL. */
export function promise4(events: readonly Event[]): Violation[] {
  const out: Violation[] = []
  const heals = only(events, 'heal')
  const hits = only(events, 'hit')
  const perSlot = agentSlots(events).map((slot) => ({
    slot,
    agents: only(events, 'agent').filter((e) => e.slot === slot),
    workers: only(events, 'worker').filter((e) => e.slot === slot),
  }))
  heals.forEach((h, i) => {
    const deadline = h.at + h.deadline_ms
    const until = heals[i + 1]?.at ?? Infinity
    const cur = h.current
    const at = (e: Of<'agent'> | Of<'worker'>) => e.store_id === cur.store_id && e.version === cur.version && e.url === cur.url
    const late = (what: string, seen: Of<'agent'> | Of<'worker'> | undefined, extra = '') =>
      out.push({
        promise: 4,
        at: deadline,
        message: `${what} had not reached the controller's ${doc(cur)} ${secs(h.deadline_ms)} after the heal at ${secs(h.at)} (last seen: ${seen ? `${doc(seen)}${extra}` : 'nothing'})`,
      })
    for (const { slot, agents, workers } of perSlot) {
      const a = within(agents, h.at, deadline)
      if (!a.some((e) => at(e) && e.worker_version === cur.version)) late(`agent ${slot}`, a.at(-1), a.length ? `, worker_version ${a.at(-1)!.worker_version}` : '')
      const w = within(workers, h.at, deadline)
      if (!w.some(at)) late(`worker ${slot}`, w.at(-1))
      for (const hit of hits)
        if (hit.slot === slot && hit.at >= h.at && hit.at < until && (hit.status !== 200 || hit.called !== cur.url))
          out.push({ promise: 4, at: hit.at, message: `worker ${slot}'s /hit answered ${hit.status} having called ${hit.called ?? 'nothing'}, after the heal at ${secs(h.at)} to ${cur.url}` })
    }
  })
  return out
}

/** The events (in time order) from `from` to `to`, both included, found by bisection. */
function within<E extends { at: number }>(xs: E[], from: number, to: number): E[] {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (xs[mid]!.at < from) lo = mid + 1
    else hi = mid
  }
  let end = lo
  while (end < xs.length && xs[end]!.at <= to) end++
  return xs.slice(lo, end)
}

/** Every process that died was killed by the scenario or by a fail point it armed. */
export function exits(events: readonly Event[]): Violation[] {
  return only(events, 'kill')
    .filter((k) => k.by === 'itself')
    .map((k) => ({
      promise: 'exit' as const,
      at: k.at,
      message: `${k.target}${k.slot === undefined ? '' : ` ${k.slot}`} (life ${k.life}) died on its own (${k.signal ? `signal ${k.signal}` : `exit code ${k.code}`})`,
    }))
}
