/** What every answer to a hostile request must be (promise 5 of issue #10): answered in time, never a
 *  5xx outside the allowlist below, errors in the JSON shape carrying the request id, no configured
 *  secret in it. Stored state is each service's model's business (./targets.ts). */
import type { Spec } from './arbitraries'
import type { Wire } from './request'
import { latin1, type Answer } from './wire'

const SANE_ID = /^[A-Za-z0-9._:\-]{1,128}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Answers that come from Bun's HTTP parser, before any of our code runs (no X-Request-Id): a request
 *  it cannot parse is refused and the connection closed. 505 is the parser's answer to a request line
 *  it cannot read as HTTP/1.x (a bare LF, a space or control byte in the target, HTTP/2.0): a 5xx the
 *  services cannot intercept (Bun.serve has no hook for it), reported in the fuzz report as a deviation
 *  from "never a 5xx"; everything else must be a 4xx. */
export const RUNTIME_REFUSALS = new Set([400, 413, 414, 431, 505])

/** The 5xx answers the README documents that a single client can cause by itself, and when. The load
 *  answers (503 busy, upstream_busy, store_unavailable) are not here: one request at a time, a healthy
 *  store and a quick upstream must never meet them. */
export type Allow = { status: number; error: string; when: string }
export const ALLOWLIST: Record<string, Allow[]> = {
  controller: [],
  worker: [
    { status: 503, error: 'no_config', when: 'GET /hit while the worker holds no config' },
    { status: 503, error: 'not_ready', when: 'GET /readyz while the worker holds no config' },
  ],
  agent: [{ status: 503, error: 'not_ready', when: 'GET /readyz while the agent holds no config' }],
}

/** Routes that answer 200 to anyone: a well-formed GET of one of them, whatever its Host or headers,
 *  must reach it (the router must not be misled into another route). */
export const OPEN_ROUTES: Record<string, string[]> = {
  controller: ['/healthz', '/swagger', '/swagger/json'],
  worker: ['/healthz', '/state', '/swagger', '/swagger/json'],
  agent: ['/healthz', '/state', '/swagger', '/swagger/json'],
}

export type Outcome = 'service' | 'runtime' | 'closed' | 'held'

/** How the request ended, for statistics and for the checks below. */
export function outcomeOf(a: Answer, held: boolean): Outcome {
  if (held) return 'held'
  if (a.status === null) return 'closed'
  return a.headers['x-request-id'] !== undefined ? 'service' : 'runtime'
}

export const decoded = (a: Answer) => new TextDecoder().decode(a.body)

/** Everything wrong with `answer` to `spec`; `allowed` says whether a 5xx is on the allowlist now. */
export function judge(service: string, spec: Spec, wire: Wire, answer: Answer, o: { held: boolean; deadlineMs: number; secrets: string[]; allowed: (status: number, error: string | undefined) => boolean }): string[] {
  const bad: string[] = []
  if (answer.timedOut && !o.held) return [`no answer within ${Math.round(o.deadlineMs)} ms: the service hangs on this request`]
  const outcome = outcomeOf(answer, o.held)
  if (outcome === 'held') return bad
  // A request the runtime must pass on was not answered by the service (closed, or refused by the
  // parser). A connection cut while the body was still going out is an early refusal (401/413/415 close
  // the connection; TCP may then lose the answer to the reset).
  if (wire.clean && outcome === 'closed' && !answer.cut) bad.push('a well-formed request: connection closed without an answer')
  if (wire.clean && outcome === 'runtime') bad.push(`a well-formed request refused by the HTTP parser (${answer.status}), never reaching the service`)
  if (outcome === 'runtime' && !RUNTIME_REFUSALS.has(answer.status!)) bad.push(`the HTTP parser answered ${answer.status}`)
  for (const s of o.secrets) if (s && (answer.head.includes(s) || latin1(answer.body).includes(s))) bad.push(`a configured secret (${s.slice(0, 4)}…) appears in the answer`)
  if (outcome !== 'service') return bad

  const status = answer.status!
  const id = answer.headers['x-request-id']!
  let json: any
  try {
    json = JSON.parse(decoded(answer))
  } catch {}
  if (wire.clean && spec.method === 'GET' && spec.query === '' && OPEN_ROUTES[service]!.includes(spec.path) && status !== 200) bad.push(`a well-formed GET ${spec.path} was answered ${status}: routed elsewhere?`)
  if (status >= 500 && !o.allowed(status, spec.method === 'HEAD' ? undefined : json?.error)) bad.push(`answered ${status}${json?.error ? ` ${json.error}` : ''}: a 5xx that no hostile request may cause`)
  if (status >= 400 && spec.method !== 'HEAD') {
    const shape = json && typeof json === 'object' && !Array.isArray(json) ? Object.keys(json).sort().join(',') : null
    if (shape !== 'error,message,request_id' || typeof json.error !== 'string' || typeof json.message !== 'string') bad.push(`error ${status} not in the JSON error shape: ${decoded(answer).slice(0, 200)}`)
    else if (json.request_id !== id) bad.push(`error body request_id ${json.request_id} differs from X-Request-Id ${id}`)
  }
  // X-Request-Id: a sane incoming one is kept, anything else replaced by a fresh id.
  const sent = wire.requestIds.map((v) => v.replace(/^[ \t]+|[ \t]+$/g, '')).join(', ')
  if (wire.requestIds.length && SANE_ID.test(sent)) {
    if (id !== sent) bad.push(`the sane X-Request-Id ${JSON.stringify(sent)} came back as ${JSON.stringify(id)}`)
  } else if (!UUID.test(id)) bad.push(`X-Request-Id ${JSON.stringify(id)} is neither the sane one sent nor a fresh id`)
  return bad
}
