/** The thin typed layer between the commands and the controller: each call is one route of the
 *  controller's app type through the eden treaty client, and every answer is settled into a Reply
 *  (ok, not modified, refused, server error, unreachable) the commands map to an exit code. */
import { treaty } from '@elysiajs/eden'
import type { App } from '../../controller/src/app'
import type { Agent, AgentStatus, AuditPage, ConfigDoc, Convergence, Entry, Fleet, Rollout, RolloutAction, RolloutInput, RolloutPage, VersionPage } from './contract'

export type Failure = {
  ok: false
  /** refused: a 4xx; server: a 5xx; unreachable: no HTTP answer at all (refused connection, DNS, timeout). */
  kind: 'refused' | 'server' | 'unreachable'
  status: number | null
  error: string
  message: string
  request_id: string | null
  /** The body the server sent (its JSON error), for --json. */
  body: unknown
  headers: Headers | null
}
export type Ok<T> = { ok: true; status: number; data: T; headers: Headers }
export type NotModified = { ok: true; status: 304; data: null; headers: Headers }
export type Reply<T> = Ok<T> | Failure

type Raw = { data: unknown; error: { status: unknown; value: unknown } | null; response: Response | undefined; status: number }

/** Settle one eden answer. Eden reports a fetch that threw as status 503 without a response. */
export function settle<T>(r: Raw): Reply<T> {
  const res = r.response
  if (res === undefined) {
    const cause = r.error?.value
    const text = cause instanceof Error ? (cause.name === 'TimeoutError' ? 'no answer in time' : cause.message) : String(cause)
    return { ok: false, kind: 'unreachable', status: null, error: 'unreachable', message: text, request_id: null, body: null, headers: null }
  }
  if (r.error === null && res.status < 300) return { ok: true, status: res.status, data: r.data as T, headers: res.headers }
  const body = r.error?.value ?? r.data
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  return {
    ok: false,
    kind: res.status >= 500 ? 'server' : 'refused',
    status: res.status,
    error: str(b.error) ?? `http_${res.status}`,
    message: str(b.message) ?? (typeof body === 'string' && body ? body : res.statusText || `HTTP ${res.status}`),
    request_id: str(b.request_id) ?? res.headers.get('x-request-id'),
    body,
    headers: res.headers,
  }
}

export type ClientOptions = {
  url: string
  key: string
  /** The transport; `fetch` in the executable, a stand-in in tests. */
  fetcher?: typeof fetch
  /** Aborts every request in flight (SIGINT/SIGTERM). */
  signal?: AbortSignal
  /** Deadline of an ordinary request; a long-poll gets its wait on top. */
  timeoutMs?: number
}

/** One method per route the CLI uses, typed by the controller's App (the rollout routes by RolloutRoutes until they land). */
export function createApi(opts: ClientOptions) {
  const client = treaty<App>(opts.url, {
    fetcher: opts.fetcher,
    headers: { authorization: `Bearer ${opts.key}` },
    // The server's JSON as sent: dates stay strings (--json prints them unchanged).
    parseDate: false,
  })
  const timeoutMs = opts.timeoutMs ?? 30_000
  const signal = (extraMs = 0) => {
    const t = AbortSignal.timeout(timeoutMs + extraMs)
    return { signal: opts.signal ? AbortSignal.any([opts.signal, t]) : t }
  }
  const ifMatch = (etag?: string): Record<string, string> => (etag === undefined ? {} : { 'if-match': etag })

  return {
    /** GET /config; with `wait` and `etag` a long-poll that ends on a change (200) or after `wait` s (304). */
    async config(o: { wait?: number; etag?: string } = {}): Promise<Reply<ConfigDoc> | NotModified> {
      const r = await client.config.get({
        query: o.wait === undefined ? {} : { wait: String(o.wait) },
        headers: o.etag === undefined ? {} : { 'if-none-match': o.etag },
        fetch: signal((o.wait ?? 0) * 1000),
      })
      if (r.response?.status === 304) return { ok: true, status: 304, data: null, headers: r.response.headers }
      return settle<ConfigDoc>(r)
    },
    /** POST /config: 201 a new version, 200 identical to the current one. */
    setConfig: async (body: { url: string; timeout_ms?: number; comment?: string }, etag?: string) =>
      settle<Entry>(
        await client.config.post(
          body,
          { headers: ifMatch(etag), fetch: signal() },
        ),
      ),
    versions: async (limit?: number) =>
      settle<VersionPage>(await client.config.versions.get({ query: limit === undefined ? {} : { limit }, fetch: signal() })),
    version: async (n: number) => settle<Entry & { convergence: Convergence }>(await client.config.versions({ n }).get({ fetch: signal() })),
    rollback: async (version: number, comment?: string, etag?: string) =>
      settle<Entry>(await client.config.rollback.post(comment === undefined ? { version } : { version, comment }, { headers: ifMatch(etag), fetch: signal() })),
    agents: async (q: { status?: AgentStatus; label?: string[] } = {}) => settle<Fleet>(await client.agents.get({ query: q, fetch: signal() })),
    // Eden puts a path parameter in the URL as it is: an id with / or ? must be encoded here.
    agent: async (id: string) => settle<Agent>(await client.agents({ id: encodeURIComponent(id) }).get({ fetch: signal() })),
    audit: async (limit?: number) => settle<AuditPage>(await client.audit.get({ query: limit === undefined ? {} : { limit }, fetch: signal() })),
    startRollout: async (body: RolloutInput) => settle<Rollout>(await client.rollouts.post(body, { fetch: signal() })),
    currentRollout: async () => settle<Rollout>(await client.rollouts.current.get({ fetch: signal() })),
    rollout: async (id: string) => settle<Rollout>(await client.rollouts({ id: encodeURIComponent(id) }).get({ fetch: signal() })),
    rollouts: async (limit?: number) => settle<RolloutPage>(await client.rollouts.get({ query: limit === undefined ? {} : { limit }, fetch: signal() })),
    rolloutAction: async (id: string, action: RolloutAction) => settle<Rollout>(await client.rollouts({ id: encodeURIComponent(id) })[action].post(undefined, { fetch: signal() })),
  }
}
export type Api = ReturnType<typeof createApi>
