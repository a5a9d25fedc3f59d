import { Elysia, t } from 'elysia'
import { ErrorShape, Int, Nullable, requestIdOf, type AuthPlugin, type Logger } from '@dcm/shared'
import type { Role } from '../agents'
import { guard, type AuditInput, type ConfigStore } from '../store'

const Record = t.Object({
  id: Int(),
  at: t.String({ format: 'date-time' }),
  actor: t.String({ description: "the admin key's name, or key:<first 8 hex of its sha256>" }),
  action: t.String({ description: 'config.write, config.rollback, agent.register, agent.revoke' }),
  target: t.String({ description: 'version N, config (none yet), or agent <id>' }),
  request_id: Nullable(t.String()),
  outcome: t.String({ description: 'created, unchanged, precondition_failed, registered, revoked' }),
})

/** The audit trail. Config writes are recorded by the store in the write's own transaction; agent
 *  registrations and revocations right after they are stored. Each is one `info` line too. */
export class Audit {
  constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
  ) {}

  /** Record one (a failure to is logged, never undoes what was done). */
  async record(r: AuditInput): Promise<void> {
    this.logger.info('audit', { actor: r.actor, action: r.action, target: r.target, outcome: r.outcome, request_id: r.request_id ?? undefined })
    await guard((signal) => this.store.appendAudit(r, signal), 'write', this.logger, r.request_id ?? undefined).catch(() => {
      this.logger.error('audit record not stored', { action: r.action, target: r.target, request_id: r.request_id ?? undefined })
    })
  }

  list(limit: number, before: number | null, requestId: string) {
    return guard((signal) => this.store.audit(limit, before, signal), 'read', this.logger, requestId)
  }
}

/** GET /audit (admin), newest first. */
export const auditRoutes = (audit: Audit, auth: AuthPlugin<Role>) =>
  new Elysia({ name: 'controller.audit' }).use(auth).get(
    '/audit',
    async ({ query, request }) => {
      const limit = query.limit ?? 50
      const page = await audit.list(limit + 1, query.before ?? null, requestIdOf(request))
      const records = page.slice(0, limit)
      return { records, next_before: page.length > limit ? records[records.length - 1]!.id : null }
    },
    {
      auth: ['admin'],
      query: t.Object({
        limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, description: 'records per page (default 50)' })),
        before: t.Optional(t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'only records below this id (the previous page’s next_before)' })),
      }),
      response: { 200: t.Object({ records: t.Array(Record), next_before: Nullable(Int()) }), 401: ErrorShape, 403: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
      detail: { summary: 'The audit trail, newest first: every config write and rollback (also refused ones), every new agent and revocation', tags: ['audit'] },
    },
  )
