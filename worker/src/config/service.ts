import { hostname } from 'node:os'
import { Conflict, Invalid, maskUrl, NOTHING_ALLOWED, upstreamHost, upstreamRefusal, type ConfigDoc, type Logger, type UpstreamAllow } from '@dcm/shared'
import { HitCounter } from '../hit/counts'
import type { AppliedState, ApplyReply, EmptyState } from './model'
import { decide } from './rules'

export const DEFAULT_TIMEOUT_MS = 5000

/** The applied config, prepared once per version so GET /hit reads fields and nothing else. */
export type ActiveConfig = Readonly<{
  doc: ConfigDoc
  url: string
  timeoutMs: number
  maskedUrl: string
  /** The host name /hit resolves and checks before each call; null for an IP literal (checked once, on
   *  apply) or a name UPSTREAM_ALLOW permits. */
  lookupHost: string | null
  state: AppliedState
  /** How /hit fares with this version. */
  hits: HitCounter
}>

const EMPTY: EmptyState = Object.freeze({ version: null, store_id: null, url: null, applied_at: null })
const NO_HITS = new HitCounter(null)

/** Holds the active config and the rules for replacing it. Applying is synchronous and swaps one
 *  reference, so a request that read `active` keeps its config to the end. */
export class ConfigService {
  #active: ActiveConfig | null = null

  constructor(
    private readonly logger: Logger,
    /** The port this worker listens on, to refuse a URL that points back at it. */
    private readonly ownPort: () => number,
    private readonly upstreamAllow: UpstreamAllow = NOTHING_ALLOWED,
  ) {}

  get active(): ActiveConfig | null {
    return this.#active
  }

  get state(): (AppliedState | EmptyState) & { hits: ReturnType<HitCounter['toJSON']> } {
    return { ...(this.#active?.state ?? EMPTY), hits: (this.#active?.hits ?? NO_HITS).toJSON() }
  }

  /** Apply a document by the rules in ./rules: 409 for stale or conflicting ones (unless `replace`: the
   *  agent replacing a version its store never issued), 422 for a URL that points at this worker or at a
   *  link-local or cloud metadata address (the controller refuses those too; a document may come from
   *  elsewhere). */
  apply(doc: ConfigDoc, requestId?: string, replace = false): ApplyReply {
    if (pointsAt(doc.url, this.ownPort())) throw new Invalid('body field "url": points at this worker itself; GET /hit would call itself')
    const refusal = upstreamRefusal(doc.url, this.upstreamAllow)
    if (refusal !== null) {
      this.logger.warn('config refused', { reason: 'upstream_forbidden', version: doc.version, url: maskUrl(doc.url), request_id: requestId })
      throw new Invalid(`body field "url": ${refusal}`)
    }
    const current = this.#active
    let decision = decide(current?.doc ?? null, doc)
    if (replace && (decision === 'stale' || decision === 'conflict')) {
      this.logger.warn('config replaced on the agent’s word', { version: doc.version, replaced_version: current!.doc.version, request_id: requestId })
      decision = 'apply'
    }
    switch (decision) {
      case 'same':
        return { applied: false, ...current!.state }
      case 'stale':
        this.logger.warn('config refused', { reason: 'stale_version', version: doc.version, active_version: current!.doc.version, request_id: requestId })
        throw new Conflict(`version ${doc.version} is older than the active version ${current!.doc.version}; versions only move forward`, 'stale_version')
      case 'conflict':
        this.logger.warn('config refused', { reason: 'version_conflict', version: doc.version, request_id: requestId })
        throw new Conflict(`version ${doc.version} is already active with different content`, 'version_conflict')
      case 'new_store':
      case 'apply': {
        const next = activeConfigOf(doc, new Date(), this.upstreamAllow)
        this.#active = next
        if (decision === 'new_store')
          this.logger.warn('config from another store identity applied; version numbers started again', {
            store_id: doc.store_id,
            previous_store_id: current!.doc.store_id,
            version: doc.version,
            previous_version: current!.doc.version,
            request_id: requestId,
          })
        this.logger.info('config applied', { version: doc.version, url: next.maskedUrl, timeout_ms: next.timeoutMs, previous_version: current?.doc.version ?? null, request_id: requestId })
        // The replaced config's counts at the swap: the agent reports its last hits without a probe (a /hit
        // of the old config still in flight finishes on the old counters, and those few are not reported).
        return current ? { applied: true, ...next.state, replaced: { ...current.state, hits: current.hits.toJSON() } } : { applied: true, ...next.state }
      }
    }
  }
}

function activeConfigOf(doc: ConfigDoc, appliedAt: Date, allow: UpstreamAllow): ActiveConfig {
  const timeoutMs = doc.timeout_ms ?? DEFAULT_TIMEOUT_MS
  const maskedUrl = maskUrl(doc.url)
  const host = upstreamHost(doc.url, allow)
  const lookupHost = host !== null && 'name' in host ? host.name : null
  const state = Object.freeze({ version: doc.version, store_id: doc.store_id, url: maskedUrl, timeout_ms: timeoutMs, updated_at: doc.updated_at, applied_at: appliedAt.toISOString() })
  return Object.freeze({ doc: Object.freeze({ ...doc }), url: doc.url, timeoutMs, maskedUrl, lookupHost, state, hits: new HitCounter(doc.version) })
}

const SELF_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '0.0.0.0', '[::]', hostname().toLowerCase()])

/** The URL names this process: a loopback or unspecified address (or our host name) on our port. A
 *  loop through another name or another worker is caught at call time by the Via header. */
export function pointsAt(url: string, port: number): boolean {
  const u = new URL(url)
  const p = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
  const host = u.hostname.toLowerCase()
  return p === port && (SELF_HOSTS.has(host) || host.startsWith('127.') || host.endsWith('.localhost'))
}
