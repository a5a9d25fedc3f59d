/** The three services as fuzz targets: each started for real, with what it stores read from outside
 *  (the controller's store rows and GET /config, the worker's /state, the agent's /state and state
 *  file), and a model of the writes it acknowledged, so "bad input changes nothing" can be checked
 *  request by request and once more at the end. */
import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type fc from 'fast-check'
import postgres from 'postgres'
import { call, freePort, spawnService, upstreamStub, waitFor, type Service } from '../harness'
import { requests, type ServiceName, type Spec } from './arbitraries'
import { EXAMPLES } from './examples'
import { ALLOWLIST, decoded } from './judge'
import type { Keys, Wire } from './request'
import type { Answer } from './wire'

/** Keys of a fuzz run: distinct per role and service, so any one found where it should not be is named. */
export const FUZZ_KEYS: Keys = { agent: 'fuzz-agent-key-4b1d', admin: 'fuzz-admin-key-9c2e', worker: 'fuzz-worker-key-7a3f' }
/** Short body deadline, so a slow or cut body is answered (408) within the fuzzer's deadline. */
const BODY = { BODY_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' }

export interface Target<S = unknown> {
  label: string
  service: ServiceName
  svc: Service
  keys: Keys
  secrets: string[]
  arbitrary: fc.Arbitrary<Spec>
  examples: Spec[]
  /** The ETag a request saying "current" presents. */
  etag(): Promise<string | null>
  /** Long-polls held now (controller only). */
  heldPolls?(): Promise<number>
  read(): Promise<S>
  /** What is wrong with the state after `answer`, given the state before. */
  check(spec: Spec, wire: Wire, answer: Answer, before: S, after: S): string[]
  /** A held long-poll is allowed only for a caller that holds the current version (or before any). */
  checkHold?(wire: Wire, before: S): string[]
  allowed(wire: Wire, before: S): (status: number, error: string | undefined) => boolean
  /** The end of the run: what is stored is exactly what the model says was acknowledged. */
  final(): Promise<string[]>
  /** Things seen that are allowed but worth a line in the report, counted. */
  notes: Record<string, number>
}

/** Bun 1.4.5 defect (HTTP/1.1 pipelining): when a request is followed on its connection by bytes that
 *  do not parse, Bun answers those (400, or 505) and closes the connection while the request itself is
 *  still being handled; its own answer is lost, and its work goes on. Seen on PostgreSQL, where a write
 *  takes a few milliseconds: POST /register or POST /config followed by junk is read as a 400, yet
 *  stored. Then the state may change as that request, by its key, would change it — nothing else. */
const answerLost = (wire: Wire, answer: Answer) => wire.trailing && answer.headers['x-request-id'] === undefined

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
const parse = (b: Uint8Array | null): any => {
  if (!b) return undefined
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b))
  } catch {
    return undefined
  }
}
const replyOf = (a: Answer) => {
  try {
    return JSON.parse(decoded(a))
  } catch {
    return null
  }
}
/** `error` undefined: the answer has no body to tell (HEAD), so any entry of that status may match. */
const allowFor = (service: ServiceName, cond: Record<string, boolean>) => (status: number, error: string | undefined) =>
  ALLOWLIST[service]!.some((a) => a.status === status && (error === undefined || a.error === error) && cond[a.error] === true)

/** RFC 9110 If-None-Match: weak comparison, a list, or `*`. */
export function inmMatches(header: string | null, etag: string): boolean {
  if (header === null) return false
  return header.split(',').some((p) => {
    const t = p.trim()
    return t === '*' || t === etag || t === `W/${etag}`
  })
}

// ---------------------------------------------------------------------------------------------- controller

type Row = Record<string, unknown>
type ControllerState = { config: { status: number; etag: string | null; body: string }; versions: Row[]; agents: Row[]; meta: Row[]; head: Row[] }

/** A controller on SQLite (or on PostgreSQL with `databaseUrl`), empty at first. */
export async function controllerTarget(databaseUrl?: string): Promise<Target<ControllerState>> {
  const port = await freePort()
  const sqlitePath = join(mkdtempSync(join(tmpdir(), 'dcm-fuzz-')), 'controller.sqlite')
  const env: Record<string, string> = {
    ...BODY,
    AGENT_API_KEY: FUZZ_KEYS.agent,
    ADMIN_API_KEY: FUZZ_KEYS.admin,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { SQLITE_PATH: sqlitePath }),
  }
  const svc = await spawnService('controller', { port, env })
  // Rows as plain JSON (PostgreSQL gives Dates and parsed jsonb; SQLite strings).
  let rows: (q: string) => Promise<Row[]>
  if (databaseUrl) {
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    rows = async (q) => JSON.parse(JSON.stringify(await sql.unsafe(q)))
  } else {
    const db = new Database(sqlitePath, { readonly: true })
    rows = async (q) => JSON.parse(JSON.stringify(db.query(q).all()))
  }
  const read = async (): Promise<ControllerState> => {
    const res = await fetch(`${svc.url}/config`, { headers: { authorization: `Bearer ${FUZZ_KEYS.admin}` } })
    const text = await res.text()
    return {
      // An error (404 no_config) by its code: its request id differs every time.
      config: { status: res.status, etag: res.headers.get('etag'), body: res.status === 200 ? text : JSON.parse(text).error },
      versions: await rows('select version, url, timeout_ms, updated_at from config_versions order by version'),
      agents: await rows('select agent_id, hostname, worker_url, labels, registered_at, last_seen_at from agents order by agent_id'),
      meta: await rows(`select key, value from store_meta where key <> 'checked_at' order by key`),
      head: databaseUrl ? await rows('select version, url, timeout_ms, updated_at from config_head') : [],
    }
  }
  const start = await read()
  // The model: every version and registration acknowledged.
  const acknowledged: Row[] = []
  const agents = new Set<string>()
  const heldPolls = async () => (await call(`${svc.url}/readyz`)).body.held_polls as number
  const notes: Record<string, number> = {}

  return {
    label: `controller (${databaseUrl ? 'PostgreSQL' : 'SQLite'})`,
    notes,
    service: 'controller',
    svc,
    keys: FUZZ_KEYS,
    secrets: Object.values(FUZZ_KEYS),
    arbitrary: requests('controller'),
    examples: EXAMPLES.controller,
    async etag() {
      return (await fetch(`${svc.url}/config`, { headers: { authorization: `Bearer ${FUZZ_KEYS.agent}` } })).headers.get('etag')
    },
    heldPolls,
    read,
    allowed: () => allowFor('controller', {}),
    checkHold(wire, before) {
      const bad: string[] = []
      if (wire.presented !== FUZZ_KEYS.agent && wire.presented !== FUZZ_KEYS.admin) bad.push('a long-poll without a valid key is held')
      if (before.config.status === 200 && !inmMatches(wire.inm, before.config.etag!)) bad.push('a long-poll whose If-None-Match does not match the current ETag is held instead of answered')
      return bad
    },
    check(spec, wire, answer, before, after) {
      const bad: string[] = []
      const reply = replyOf(answer)
      const sent = wire.bodyComplete ? parse(wire.body) : undefined
      const post = spec.method === 'POST'
      const lost = answerLost(wire, answer)
      const configChanged = !same(before.config, after.config) || !same(before.versions, after.versions) || !same(before.head, after.head)
      if (configChanged && lost && post && wire.presented === FUZZ_KEYS.admin) {
        // Its answer lost (see answerLost): one version added, as the rows say.
        const prev = (before.versions.at(-1)?.version as number | undefined) ?? 0
        const row = after.versions.at(-1)!
        if (after.versions.length !== before.versions.length + 1 || !same(after.versions.slice(0, -1), before.versions) || row.version !== prev + 1) bad.push('a write whose answer was lost changed the versions otherwise than adding one')
        acknowledged.push({ version: row.version, url: row.url, timeout_ms: row.timeout_ms ?? undefined })
        notes['a write stored while Bun answered the junk after it (400/505), its own answer lost'] = (notes['a write stored while Bun answered the junk after it (400/505), its own answer lost'] ?? 0) + 1
      } else if (configChanged) {
        if (!(post && answer.status === 201 && wire.presented === FUZZ_KEYS.admin && reply)) bad.push(`the stored config changed, yet the request was not a write acknowledged to the admin key (status ${answer.status})`)
        else {
          const prev = (before.versions.at(-1)?.version as number | undefined) ?? 0
          const row = after.versions.at(-1)!
          if (after.versions.length !== before.versions.length + 1 || !same(after.versions.slice(0, -1), before.versions)) bad.push('a write changed other versions than adding one')
          if (!same([row.version, row.url, row.timeout_ms], [prev + 1, reply.url, reply.timeout_ms ?? null]) || reply.version !== prev + 1) bad.push(`the stored row ${JSON.stringify(row)} is not the acknowledged version ${JSON.stringify(reply)}`)
          // The answer is the entry (the document, then created_by and comment); agents get the document.
          const { created_by: _, comment: __, ...doc } = reply as Record<string, unknown>
          if (after.config.body !== JSON.stringify(doc) || after.config.etag !== answer.headers.etag) bad.push('GET /config does not serve the acknowledged document and ETag')
          if (sent !== undefined && (sent.url !== reply.url || sent.timeout_ms !== reply.timeout_ms)) bad.push(`stored ${JSON.stringify([reply.url, reply.timeout_ms])}, not what was sent ${JSON.stringify([sent.url, sent.timeout_ms])}`)
          acknowledged.push(reply)
        }
      } else if (post && answer.status === 201 && reply?.version !== undefined) bad.push('answered 201 to a config write, but nothing new is stored')
      if (!same(before.agents, after.agents) && lost && post && wire.presented === FUZZ_KEYS.agent) {
        // Its answer lost (see answerLost): one agent added or updated, the rest as before.
        const changed = after.agents.filter((r) => !before.agents.some((b) => same(b, r)))
        const kept = before.agents.filter((b) => !changed.some((r) => r.agent_id === b.agent_id))
        if (changed.length !== 1 || !same(after.agents.filter((r) => r !== changed[0]), kept)) bad.push('a registration whose answer was lost changed other agents')
        else agents.add(changed[0]!.agent_id as string)
        notes['a registration stored while Bun answered the junk after it (400/505), its own answer lost'] = (notes['a registration stored while Bun answered the junk after it (400/505), its own answer lost'] ?? 0) + 1
      } else if (!same(before.agents, after.agents)) {
        const id = reply?.agent_id
        if (!(post && (answer.status === 200 || answer.status === 201) && wire.presented === FUZZ_KEYS.agent && typeof id === 'string')) bad.push(`the agents table changed, yet the request was not a registration acknowledged to the agent key (status ${answer.status})`)
        else {
          const others = (rs: Row[]) => rs.filter((r) => r.agent_id !== id)
          const row = after.agents.find((r) => r.agent_id === id)
          if (!same(others(before.agents), others(after.agents)) || !row) bad.push(`a registration of ${id} changed other agents, or did not store ${id}`)
          // deepEquals: PostgreSQL's jsonb keeps its own key order.
          else if (sent !== undefined && !Bun.deepEquals([row.hostname, row.worker_url, typeof row.labels === 'string' ? JSON.parse(row.labels) : row.labels], [sent?.hostname ?? null, sent?.worker_url ?? null, sent?.labels ?? {}]))
            bad.push(`registration stored ${JSON.stringify(row)}, not what was sent`)
          agents.add(id)
        }
      } else if (post && answer.status === 201 && reply?.agent_id !== undefined) bad.push('answered 201 to a registration, but no agent is stored')
      if (!same(before.meta, after.meta)) bad.push('store_meta (the store identity) changed')
      if (spec.write) {
        const current = before.config.status === 200 ? JSON.parse(before.config.body) : null
        const body = parse(wire.body)
        const expected = spec.path === '/register' ? (body.agent_id ? 200 : 201) : current && current.url === body.url && current.timeout_ms === body.timeout_ms ? 200 : 201
        if (answer.status !== expected) bad.push(`a valid ${spec.path === '/register' ? 'registration' : 'config write'} by the right key was answered ${answer.status}, expected ${expected}: ${decoded(answer).slice(0, 200)}`)
        if (spec.path === '/register' && body.agent_id && reply?.agent_id !== body.agent_id) bad.push('a registration presenting its agent_id got another one')
      }
      return bad
    },
    async final() {
      const bad: string[] = []
      const end = await read()
      const versions = end.versions.map((r) => [r.version, r.url, r.timeout_ms])
      const expected = [...start.versions.map((r) => [r.version, r.url, r.timeout_ms]), ...acknowledged.map((d) => [d.version, d.url, d.timeout_ms ?? null])]
      if (!same(versions, expected)) bad.push(`stored versions ${JSON.stringify(versions)} are not the acknowledged ones ${JSON.stringify(expected)}`)
      const ids = end.agents.map((r) => r.agent_id).sort()
      const known = [...new Set([...start.agents.map((r) => r.agent_id as string), ...agents])].sort()
      if (!same(ids, known)) bad.push(`stored agents ${ids.length} are not the ${known.length} acknowledged`)
      if (!same(end.meta, start.meta)) bad.push('the store identity changed during the run')
      const last = acknowledged.at(-1)
      const served = end.config.status === 200 ? JSON.parse(end.config.body) : null
      if (last && !same([served?.version, served?.url, served?.timeout_ms], [last.version, last.url, last.timeout_ms])) bad.push(`GET /config serves ${end.config.body}, not the last acknowledged ${JSON.stringify(last)}`)
      try {
        await waitFor('held polls back to 0', async () => (await heldPolls()) === 0, 5000)
      } catch {
        bad.push(`held_polls is ${await heldPolls()} at the end, not 0`)
      }
      return bad
    },
  }
}

// -------------------------------------------------------------------------------------------------- worker

type WorkerState = Record<string, unknown>
type Doc = { version: number; store_id: string; url: string; timeout_ms?: number; updated_at: string }

/** The README's rules for a document pushed to a worker (independent of the worker's code). */
export function workerDecision(active: Doc | null, next: Doc, replace: boolean): 'apply' | 'same' | 'stale' | 'conflict' {
  if (active === null || next.store_id !== active.store_id || next.version > active.version) return 'apply'
  const d = next.version < active.version ? 'stale' : next.url === active.url && next.timeout_ms === active.timeout_ms && next.updated_at === active.updated_at ? 'same' : 'conflict'
  return replace && d !== 'same' ? 'apply' : d
}

/** A worker alone (nothing else writes to it), empty at first; valid documents point at a stub. */
export async function workerTarget(): Promise<Target<WorkerState>> {
  const upstream = upstreamStub('fuzz-upstream')
  const svc = await spawnService('worker', { env: { ...BODY, AGENT_API_KEY: FUZZ_KEYS.worker } })
  const read = async (): Promise<WorkerState> => {
    const { hits: _, ...rest } = (await call(`${svc.url}/state`)).body
    return rest
  }
  let active: Doc | null = null
  return {
    label: 'worker',
    notes: {},
    service: 'worker',
    svc,
    keys: FUZZ_KEYS,
    secrets: Object.values(FUZZ_KEYS),
    arbitrary: requests('worker', upstream.url),
    examples: EXAMPLES.worker,
    etag: async () => null,
    read,
    allowed: (wire, before) => allowFor('worker', { no_config: before.version === null, not_ready: before.version === null, loop_detected: (wire.via?.length ?? 0) > 2000 }),
    check(spec, wire, answer, before, after) {
      const bad: string[] = []
      const reply = replyOf(answer)
      const sent: Doc | undefined = wire.bodyComplete ? parse(wire.body) : undefined
      const replace = /[?&]replace=true(&|$)/.test(spec.query)
      if (spec.write) {
        const d = workerDecision(active, sent!, replace)
        const expected = d === 'apply' ? [200, true] : d === 'same' ? [200, false] : [409, d === 'stale' ? 'stale_version' : 'version_conflict']
        const got = [answer.status, answer.status === 200 ? reply?.applied : reply?.error]
        if (!same(got, expected)) bad.push(`a valid document by the right key (${d} by the README's rules) was answered ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`)
      }
      if (!same(before, after)) {
        if (!(spec.method === 'POST' && answer.status === 200 && reply?.applied === true && wire.presented === FUZZ_KEYS.worker)) bad.push(`the worker's config changed, yet the request was not an apply acknowledged to the agent key (status ${answer.status})`)
        else {
          const { applied: _, replaced, ...state } = reply
          if (!same(after, state)) bad.push(`/state ${JSON.stringify(after)} is not the acknowledged ${JSON.stringify(state)}`)
          // What it replaced is what /state showed before (the first apply replaces nothing).
          const { hits: __, ...was } = replaced ?? {}
          if (before.version === null ? replaced !== undefined : !same(was, before)) bad.push(`the answer's replaced ${JSON.stringify(replaced)} is not what /state showed before: ${JSON.stringify(before)}`)
          if (sent === undefined || sent.version !== after.version || sent.store_id !== after.store_id) bad.push('applied something other than the document sent')
          else active = { version: sent.version, store_id: sent.store_id, url: sent.url, timeout_ms: sent.timeout_ms, updated_at: sent.updated_at }
        }
      } else if (answer.status === 200 && reply?.applied === true) bad.push('answered applied: true, but /state did not change')
      return bad
    },
    async final() {
      const end = await read()
      const want = active ? [active.version, active.store_id, active.updated_at, active.timeout_ms ?? 5000] : [null, null, undefined, undefined]
      const got = [end.version, end.store_id, end.updated_at, end.timeout_ms]
      return same(got, want) ? [] : [`the worker holds ${JSON.stringify(got)}, not the last acknowledged ${JSON.stringify(want)}`]
    },
  }
}

// --------------------------------------------------------------------------------------------------- agent

type AgentState = { view: Record<string, unknown>; file: string | null; bak: string | null }

/** An agent beside a controller and a worker, holding version 1; nothing changes while it is fuzzed. */
export async function agentTarget(): Promise<Target<AgentState>> {
  const upstream = upstreamStub('fuzz-upstream')
  const cport = await freePort()
  const controller = await spawnService('controller', {
    port: cport,
    env: { LOG_LEVEL: 'info', AGENT_API_KEY: FUZZ_KEYS.agent, ADMIN_API_KEY: FUZZ_KEYS.admin, POLL_INTERVAL_SECONDS: '0.5', PUBLIC_URL: `http://127.0.0.1:${cport}`, SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-fuzz-')), 'c.sqlite') },
  })
  const worker = await spawnService('worker', { env: { LOG_LEVEL: 'info', AGENT_API_KEY: FUZZ_KEYS.worker } })
  const stateFile = join(mkdtempSync(join(tmpdir(), 'dcm-fuzz-agent-')), 'state.json')
  const svc = await spawnService('agent', {
    env: { LOG_LEVEL: 'info', CONTROLLER_URL: controller.url, CONTROLLER_API_KEY: FUZZ_KEYS.agent, WORKER_URL: worker.url, WORKER_API_KEY: FUZZ_KEYS.worker, STATE_FILE: stateFile },
  })
  await call(`${controller.url}/config`, { method: 'POST', key: FUZZ_KEYS.admin, json: { url: upstream.url } })
  await waitFor('the agent and its worker at version 1', async () => (await call(`${svc.url}/state`)).body.worker_version === 1)
  const file = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : null)
  const read = async (): Promise<AgentState> => {
    const s = (await call(`${svc.url}/state`)).body
    return { view: { agent_id: s.agent_id, store_id: s.store_id, version: s.version, etag: s.etag, worker_version: s.worker_version }, file: file(stateFile), bak: file(`${stateFile}.bak`) }
  }
  const start = await read()
  return {
    label: 'agent',
    notes: {},
    service: 'agent',
    svc,
    keys: FUZZ_KEYS,
    secrets: Object.values(FUZZ_KEYS),
    arbitrary: requests('agent'),
    examples: EXAMPLES.agent,
    etag: async () => start.view.etag as string,
    read,
    allowed: (_wire, before) => allowFor('agent', { not_ready: before.view.version === null }),
    check(_spec, _wire, _answer, before, after) {
      return same(before, after) ? [] : [`the agent's state changed: ${JSON.stringify(before.view)} → ${JSON.stringify(after.view)}${before.file === after.file ? '' : ' (state file rewritten)'}`]
    },
    async final() {
      const end = await read()
      const bad = same(end, start) ? [] : [`the agent's state at the end differs from the start: ${JSON.stringify(end.view)}`]
      if (controller.proc.exitCode !== null || worker.proc.exitCode !== null) bad.push('the agent’s controller or worker died')
      return bad
    },
  }
}
