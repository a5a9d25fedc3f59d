import { Conflict, Invalid, isHttpUrl, maskUrl, type ConfigDoc, type Logger } from '@dcm/shared'
import type { AppliedState, ApplyReply, EmptyState } from './model'
import { decide } from './rules'

export const DEFAULT_TIMEOUT_MS = 5000

/** The applied config, prepared once per version so GET /hit reads fields and nothing else. */
export type ActiveConfig = Readonly<{
  doc: ConfigDoc
  url: string
  timeoutMs: number
  maskedUrl: string
  state: AppliedState
}>

const EMPTY: EmptyState = Object.freeze({ version: null, url: null, applied_at: null })

/** Holds the active config and the rules for replacing it. Applying is synchronous and swaps one
 *  reference, so a request that read `active` keeps its config to the end. */
export class ConfigService {
  #active: ActiveConfig | null = null

  constructor(private readonly logger: Logger) {}

  get active(): ActiveConfig | null {
    return this.#active
  }

  get state(): AppliedState | EmptyState {
    return this.#active?.state ?? EMPTY
  }

  /** Apply a document by the rules in ./rules: 409 for stale or conflicting ones, 422 for a bad url. */
  apply(doc: ConfigDoc, requestId?: string): ApplyReply {
    if (!isHttpUrl(doc.url)) throw new Invalid('body field "url": must be an absolute http:// or https:// URL with a host')
    const current = this.#active
    switch (decide(current?.doc ?? null, doc)) {
      case 'same':
        return { applied: false, ...current!.state }
      case 'stale':
        this.logger.warn('config refused', { reason: 'stale_version', version: doc.version, active_version: current!.doc.version, request_id: requestId })
        throw new Conflict(`version ${doc.version} is older than the active version ${current!.doc.version}; versions only move forward`, 'stale_version')
      case 'conflict':
        this.logger.warn('config refused', { reason: 'version_conflict', version: doc.version, request_id: requestId })
        throw new Conflict(`version ${doc.version} is already active with different content`, 'version_conflict')
      case 'apply': {
        const next = activeConfigOf(doc, new Date())
        this.#active = next
        this.logger.info('config applied', { version: doc.version, url: next.maskedUrl, timeout_ms: next.timeoutMs, previous_version: current?.doc.version ?? null, request_id: requestId })
        return { applied: true, ...next.state }
      }
    }
  }
}

function activeConfigOf(doc: ConfigDoc, appliedAt: Date): ActiveConfig {
  const timeoutMs = doc.timeout_ms ?? DEFAULT_TIMEOUT_MS
  const maskedUrl = maskUrl(doc.url)
  const state = Object.freeze({ version: doc.version, url: maskedUrl, timeout_ms: timeoutMs, updated_at: doc.updated_at, applied_at: appliedAt.toISOString() })
  return Object.freeze({ doc: Object.freeze({ ...doc }), url: doc.url, timeoutMs, maskedUrl, state })
}
