/** `dcm check CONTROLLER AGENT WORKER`: the endpoint checks to run against a deployment (the README's
 *  deployment section lists them), one row each: every service's /healthz and /readyz, the config read
 *  and the history read with the admin key (only an admin key may read it), a registration with the agent key (skipped without one), the agent's and the
 *  worker's /state against the controller's current version and store, and the worker's /hit.
 *  Exit 0 every check passed (skips allowed), 1 a check failed, 3 the controller did not answer at all. */
import { createApi, type Failure } from './client'
import { EXIT, type Ctx } from './command'
import type { ConfigDoc, Rollout } from './contract'
import { table } from './render'

export type Service = 'controller' | 'agent' | 'worker'
export type Result = 'pass' | 'fail' | 'skip'
export type Check = { service: Service; check: string; url: string; result: Result; detail: string }
export type Targets = Record<Service, string>

/** The agent_id the register check presents (no token is asked for or bound): every run re-registers
 *  the same record (200) instead of adding an agent to the fleet. */
export const CHECK_AGENT_ID = 'dcm-check'
/** How long one probe may take. */
export const PROBE_TIMEOUT_MS = 10_000

/** The worker's own failures on /hit (anything else is the upstream's answer, passed through). */
const WORKER_HIT_ERRORS = new Set(['no_config', 'upstream_unreachable', 'upstream_timeout', 'upstream_forbidden', 'upstream_broke_off', 'upstream_busy', 'loop_detected', 'via_too_long'])

type Answer = { ok: true; status: number; body: any; location: string | null } | { ok: false; message: string }

/** One HTTP call; never throws. The body is parsed as JSON when it is JSON. */
async function probe(ctx: Ctx, url: string, init: RequestInit = {}): Promise<Answer> {
  const t = AbortSignal.timeout(PROBE_TIMEOUT_MS)
  const signal = ctx.io.signal ? AbortSignal.any([ctx.io.signal, t]) : t
  try {
    const res = await (ctx.io.fetcher ?? fetch)(url, { ...init, signal, redirect: 'manual' })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text ? JSON.parse(text) : null
    } catch {}
    return { ok: true, status: res.status, body, location: res.headers.get('location') }
  } catch (e) {
    const err = e as Error
    return { ok: false, message: err.name === 'TimeoutError' ? `no answer in ${PROBE_TIMEOUT_MS / 1000} s` : err.message }
  }
}

/** "HTTP 503 not_ready: the message" for an error answer; where a redirect leads (e.g. http → https). */
const refusal = (a: { status: number; body: any; location: string | null }) => {
  const b = a.body && typeof a.body === 'object' ? a.body : {}
  if (a.status >= 300 && a.status < 400) return `HTTP ${a.status}, redirected to ${a.location ?? '(no Location)'}: give that URL`
  return `HTTP ${a.status}${typeof b.error === 'string' ? ` ${b.error}` : ''}${typeof b.message === 'string' ? `: ${b.message}` : ''}`
}
const failureLine = (f: Failure) => (f.kind === 'unreachable' ? `no answer: ${f.message}` : `HTTP ${f.status} ${f.error}: ${f.message}`)

/** Every check, in order. The controller's current version comes from the config check; while a rollout
 *  runs an agent (and its worker) may hold the rollout's candidate instead, which also passes. */
export async function runChecks(ctx: Ctx, targets: Targets, keys: { admin: string; agent?: string }): Promise<{ checks: Check[]; controllerUnreachable: boolean }> {
  const checks: Check[] = []
  const add = (service: Service, check: string, path: string, result: Result, detail: string) => checks.push({ service, check, url: `${targets[service]}${path}`, result, detail })
  const down: Partial<Record<Service, string>> = {}

  /** /healthz, then /readyz; a service that does not answer /healthz is not asked anything else. */
  const health = async (service: Service, readyDetail: (body: any) => string) => {
    const h = await probe(ctx, `${targets[service]}/healthz`)
    if (!h.ok) {
      down[service] = h.message
      add(service, 'healthz', '/healthz', 'fail', `no answer: ${h.message}`)
      add(service, 'readyz', '/readyz', 'fail', `not tried: the ${service} did not answer /healthz`)
      return
    }
    add(service, 'healthz', '/healthz', h.status === 200 ? 'pass' : 'fail', h.status === 200 ? 'HTTP 200' : refusal(h))
    const r = await probe(ctx, `${targets[service]}/readyz`)
    if (!r.ok) add(service, 'readyz', '/readyz', 'fail', `no answer: ${r.message}`)
    else add(service, 'readyz', '/readyz', r.status === 200 ? 'pass' : 'fail', r.status === 200 ? readyDetail(r.body) : refusal(r))
  }
  const notTried = (service: Service, check: string, path: string) => add(service, check, path, 'fail', `not tried: the ${service} did not answer /healthz`)

  // The controller.
  await health('controller', (b) => `store ${b?.store}, version ${b?.version ?? 'none yet'}`)
  let current: ConfigDoc | null = null
  let rollout: Rollout | null = null
  if (down.controller) {
    notTried('controller', 'config', '/config')
    notTried('controller', 'admin', '/config/versions')
    notTried('controller', 'register', '/register')
  } else {
    const api = createApi({ url: targets.controller, key: keys.admin, fetcher: ctx.io.fetcher, signal: ctx.io.signal, timeoutMs: PROBE_TIMEOUT_MS })
    const c = await api.config()
    if (c.ok && c.data !== null) {
      current = c.data
      add('controller', 'config', '/config', 'pass', `version ${current.version}, store ${current.store_id}, url ${current.url}`)
      // Only to know which versions agents may hold right now; a controller without rollouts answers 404.
      const r = await api.currentRollout()
      if (r.ok && (r.data.state === 'running' || r.data.state === 'paused')) rollout = r.data
    } else if (!c.ok) add('controller', 'config', '/config', 'fail', c.error === 'no_config' ? 'no config has been set yet (HTTP 404 no_config): set one with dcm config set' : failureLine(c))
    // GET /config takes an agent's key too: the admin key is proven by a route only it may read.
    const h = await api.versions(1)
    if (h.ok) add('controller', 'admin', '/config/versions', 'pass', `the admin key reads the history${h.data.versions[0] ? ` (newest version ${h.data.versions[0].version}, by ${h.data.versions[0].created_by ?? 'unknown'})` : ''}`)
    else add('controller', 'admin', '/config/versions', 'fail', h.kind === 'refused' && (h.status === 401 || h.status === 403) ? `the admin key was refused: ${failureLine(h)}` : failureLine(h))
    if (keys.agent === undefined) add('controller', 'register', '/register', 'skip', 'no agent key (--agent-key or DCM_AGENT_KEY): registration not tried')
    else {
      const r = await probe(ctx, `${targets.controller}/register`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.agent}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: CHECK_AGENT_ID, hostname: CHECK_AGENT_ID, labels: { 'dcm-check': 'true' } }),
      })
      if (!r.ok) add('controller', 'register', '/register', 'fail', `no answer: ${r.message}`)
      else if (r.status === 200 || r.status === 201) add('controller', 'register', '/register', 'pass', `HTTP ${r.status}, agent_id ${r.body?.agent_id}, poll_url ${r.body?.poll_url}`)
      else add('controller', 'register', '/register', 'fail', refusal(r))
    }
  }

  /** Whether a version and store are what an agent of this controller should hold now. */
  const judge = (version: unknown, store: unknown): { ok: boolean; text: string } | null => {
    if (current === null) return null
    if (store !== current.store_id) return { ok: false, text: `store ${store ?? 'none'}, not the controller's ${current.store_id}` }
    if (version === current.version) return { ok: true, text: `version ${version} (the controller's)` }
    if (rollout !== null && version === rollout.version) return { ok: true, text: `version ${version} (the candidate of rollout ${rollout.id}; stable ${rollout.stable_version})` }
    return { ok: false, text: `version ${version ?? 'none'}, the controller's is ${current.version}` }
  }
  const unknown = (version: unknown) => `holds version ${version ?? 'none'}; not compared: the controller's config was not read`

  // The agent.
  await health('agent', (b) => `version ${b?.version}`)
  if (down.agent) notTried('agent', 'state', '/state')
  else {
    const s = await probe(ctx, `${targets.agent}/state`)
    if (!s.ok) add('agent', 'state', '/state', 'fail', `no answer: ${s.message}`)
    else if (s.status !== 200) add('agent', 'state', '/state', 'fail', refusal(s))
    else {
      const b = s.body ?? {}
      const v = judge(b.version, b.store_id)
      const problems: string[] = []
      if (v && !v.ok) problems.push(v.text)
      if (b.worker_version !== b.version) problems.push(`its worker confirmed ${b.worker_version ?? 'nothing'}${b.worker?.last_error ? ` (${b.worker.last_error})` : ''}`)
      if (b.controller?.reachable === false) problems.push(`the controller is unreachable from it${b.controller.last_error ? ` (${b.controller.last_error})` : ''}`)
      if (b.revoked === true) problems.push('it is revoked')
      if (v === null) add('agent', 'state', '/state', problems.length ? 'fail' : 'skip', [unknown(b.version), ...problems].join('; '))
      else add('agent', 'state', '/state', problems.length ? 'fail' : 'pass', problems.length ? problems.join('; ') : `${v.text}, confirmed by its worker, agent ${b.agent_id}`)
    }
  }

  // The worker.
  await health('worker', (b) => `version ${b?.version}`)
  if (down.worker) {
    notTried('worker', 'state', '/state')
    notTried('worker', 'hit', '/hit')
  } else {
    const s = await probe(ctx, `${targets.worker}/state`)
    if (!s.ok) add('worker', 'state', '/state', 'fail', `no answer: ${s.message}`)
    else if (s.status !== 200) add('worker', 'state', '/state', 'fail', refusal(s))
    else {
      const v = judge(s.body?.version, s.body?.store_id)
      add('worker', 'state', '/state', v === null ? 'skip' : v.ok ? 'pass' : 'fail', v === null ? unknown(s.body?.version) : v.text)
    }
    const h = await probe(ctx, `${targets.worker}/hit`)
    if (!h.ok) add('worker', 'hit', '/hit', 'fail', `no answer: ${h.message}`)
    else {
      const own = typeof h.body === 'object' && h.body !== null && WORKER_HIT_ERRORS.has(h.body.error)
      if (h.status < 500) add('worker', 'hit', '/hit', 'pass', `HTTP ${h.status} from the upstream`)
      else add('worker', 'hit', '/hit', 'fail', own ? refusal(h) : `HTTP ${h.status} from the upstream (the worker reached it; the upstream failed)`)
    }
  }
  return { checks, controllerUnreachable: down.controller !== undefined }
}

export const checkTable = (targets: Targets, checks: Check[]) => {
  const n = (r: Result) => checks.filter((c) => c.result === r).length
  return [
    `controller  ${targets.controller}`,
    `agent       ${targets.agent}`,
    `worker      ${targets.worker}`,
    '',
    table(['SERVICE', 'CHECK', 'RESULT', 'DETAIL'], checks.map((c) => [c.service, c.check, c.result === 'fail' ? 'FAIL' : c.result, c.detail])),
    '',
    `${checks.length} checks: ${n('pass')} passed, ${n('fail')} failed, ${n('skip')} skipped`,
  ].join('\n')
}

export const checkExit = (r: { checks: Check[]; controllerUnreachable: boolean }) =>
  r.controllerUnreachable ? EXIT.unreachable : r.checks.some((c) => c.result === 'fail') ? EXIT.refused : EXIT.ok
