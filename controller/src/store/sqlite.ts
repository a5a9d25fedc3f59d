import { Database } from 'bun:sqlite'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { SQLITE_BUSY_MS } from './deadlines'
import { migrations } from './migrations'
import { AGENT_COLUMNS, agentOf, auditOf, reportParams, ROLLOUT_COLUMNS, rolloutOf, type RolloutDbRow, docOf, entryOf, type AgentDbRow, type AuditDbRow, type EntryRow, type VersionRow } from './rows'
import { LateWrite, PreconditionFailed, RolloutActive, type AgentReport, type AuditInput, type ConfigInput, type ConfigStore, type RegisterOutcome, type Registering, type HealthRow, type SessionRow, type TokenRow, type WriteContext } from './types'

type Row = VersionRow & { updated_at: string }

const PATCHABLE = new Set(['state', 'step', 'step_started_at', 'reason', 'rollback_version', 'decisions'])

/** The embedded default: one SQLite file, WAL mode, synchronous=FULL so an answered write survives a
 *  crash. The file (and SQLite's -wal and -shm beside it, which take its mode) is readable by the owner
 *  only. Sharing one file between processes works but is meant for tests: a process waiting for another's
 *  write lock blocks its event loop for up to SQLITE_BUSY_MS. */
export function sqliteStore(path: string): ConfigStore {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600))
    chmodSync(path, 0o600)
  }
  const db = new Database(path, { create: true, strict: true })
  db.exec(`pragma journal_mode = wal; pragma synchronous = full; pragma busy_timeout = ${SQLITE_BUSY_MS}; pragma foreign_keys = on;`)
  let storeId = ''

  // Statements are prepared on first use: the tables exist only after migrate().
  let prepared: ReturnType<typeof prepare> | undefined
  const q = () => (prepared ??= prepare())
  const prepare = () => ({
    current: db.query<Row, []>('select version, url, timeout_ms, updated_at from config_versions order by version desc limit 1'),
    insert: db.query('insert into config_versions (version, url, timeout_ms, updated_at, created_by, comment) values ($version, $url, $timeout_ms, $updated_at, $created_by, $comment)'),
    versions: db.query<EntryRow, { limit: number; before: number }>(
      'select version, url, timeout_ms, updated_at, created_by, comment, converged_at from config_versions where version < $before order by version desc limit $limit',
    ),
    version: db.query<EntryRow, [number]>('select version, url, timeout_ms, updated_at, created_by, comment, converged_at from config_versions where version = ?'),
    converged: db.query('update config_versions set converged_at = $at where version = $version and converged_at is null'),
    report: db.query<{ agent_id: string }, Record<string, string | number | null>>(
      `update agents set
         fetched_version = case when last_seen_at <= $seen then $fetched else fetched_version end,
         applied_version = case when last_seen_at <= $seen then $applied else applied_version end,
         applied_at = case when last_seen_at <= $seen and applied_version is not $applied then $applied_at else applied_at end,
         rejected_version = case when last_seen_at <= $seen then $rejected_version else rejected_version end,
         rejected_reason = case when last_seen_at <= $seen then $rejected_reason else rejected_reason end,
         last_seen_at = max(last_seen_at, $seen)
       where agent_id = $agent_id and revoked_at is null returning agent_id`,
    ),
    agents: db.query<AgentDbRow, []>(`select ${AGENT_COLUMNS} from agents where revoked_at is null order by agent_id`),
    agentById: db.query<AgentDbRow, [string]>(`select ${AGENT_COLUMNS} from agents where revoked_at is null and agent_id = ?`),
    appendAudit: db.query('insert into audit (at, actor, action, target, request_id, outcome) values ($at, $actor, $action, $target, $request_id, $outcome)'),
    audit: db.query<AuditDbRow, { limit: number; before: number }>('select id, at, actor, action, target, request_id, outcome from audit where id < $before order by id desc limit $limit'),
    agent: db.query<{ token_hash: string | null; revoked_at: string | null }, [string]>('select token_hash, revoked_at from agents where agent_id = ?'),
    insertAgent: db.query(
      `insert into agents (agent_id, hostname, worker_url, labels, registered_at, last_seen_at, token_hash)
       values ($agent_id, $hostname, $worker_url, $labels, $now, $now, $token_hash)`,
    ),
    updateAgent: db.query(
      `update agents set hostname = $hostname, worker_url = $worker_url, labels = $labels, last_seen_at = $now,
         token_hash = coalesce(token_hash, $token_hash) where agent_id = $agent_id`,
    ),
    revoke: db.query<{ token_hash: string | null }, { id: string; now: string }>(
      `update agents set revoked_at = coalesce(revoked_at, $now) where agent_id = $id returning token_hash`,
    ),
    byHash: db.query<TokenRow, [string]>(`select agent_id, token_hash, revoked_at is not null as revoked from agents where token_hash = ?`),
    allTokens: db.query<TokenRow, []>(`select agent_id, token_hash, revoked_at is not null as revoked from agents where token_hash is not null`),
    revokedTokens: db.query<TokenRow, []>(`select agent_id, token_hash, 1 as revoked from agents where revoked_at is not null and token_hash is not null`),
    insertRollout: db.query<RolloutDbRow, Record<string, string | number | null>>(
      `insert into rollouts (version, stable_version, state, step, spec, eligible, step_started_at, reason, rollback_version, decisions, created_by, created_at, updated_at)
       values ($version, $stable_version, $state, $step, $spec, $eligible, $step_started_at, $reason, $rollback_version, $decisions, $created_by, $created_at, $created_at)
       returning ${ROLLOUT_COLUMNS}`,
    ),
    rollout: db.query<RolloutDbRow, [number]>(`select ${ROLLOUT_COLUMNS} from rollouts where id = ?`),
    activeRollout: db.query<RolloutDbRow, []>(`select ${ROLLOUT_COLUMNS} from rollouts where state in ('running', 'paused')`),
    rollouts: db.query<RolloutDbRow, [number]>(`select ${ROLLOUT_COLUMNS} from rollouts order by id desc limit ?`),
    lease: db.query<{ id: number }, { id: number; owner: string; until: string; now: string }>(
      `update rollouts set lease_owner = $owner, lease_until = $until
       where id = $id and state = 'running' and (lease_owner = $owner or lease_owner is null or lease_until < $now) returning id`,
    ),
    addHealth: db.query(
      `insert into agent_health (agent_id, version, hits, errors, p99_ms, updated_at) values ($agent_id, $version, $hits, $errors, $p99_ms, $at)
       on conflict (agent_id, version) do update set hits = hits + excluded.hits, errors = errors + excluded.errors,
         p99_ms = max(p99_ms, excluded.p99_ms), updated_at = excluded.updated_at`,
    ),
    createSession: db.query('insert into sessions (id_hash, actor, csrf, expires_at) values ($id_hash, $actor, $csrf, $expires_at)'),
    session: db.query<SessionRow, [string]>('select id_hash, actor, csrf, expires_at, ended_at from sessions where id_hash = ?'),
    endSession: db.query('update sessions set ended_at = coalesce(ended_at, $at) where id_hash = $id_hash'),
    touch: db.query(`insert into store_meta (key, value) values ('checked_at', $at) on conflict (key) do update set value = excluded.value`),
    storeId: db.query<{ value: string }, []>(`select value from store_meta where key = 'store_id'`),
    rotate: db.query<{ value: string }, [string]>(`update store_meta set value = case when value = ? then lower(hex(randomblob(16))) else value end where key = 'store_id' returning value`),
  })

  const audit = (r: AuditInput) => q().appendAudit.run({ ...r, request_id: r.request_id ?? null, at: new Date().toISOString() })
  const write = db.transaction((input: ConfigInput, deadline: number, ctx?: WriteContext) => {
    // Inside the write lock: the deadline and the time of the version are read after any wait for it.
    const now = Date.now()
    if (now > deadline) throw new LateWrite()
    storeId = q().storeId.get()!.value
    const cur = q().current.get()
    const record = (version: number | null, outcome: string) =>
      ctx && audit({ actor: ctx.actor, action: ctx.action, target: version === null ? 'config' : `version ${version}`, request_id: ctx.request_id ?? null, outcome })
    if (ctx?.outsideRollout && q().activeRollout.get() !== null) {
      record(cur?.version ?? null, 'rollout_in_progress')
      return { rollout: true as const }
    }
    const expect = ctx?.expect
    if (expect !== undefined && !(expect === 'any' ? cur !== null : cur !== null && cur.version === expect.version && storeId === expect.store_id)) {
      record(cur?.version ?? null, 'precondition_failed')
      return { failed: cur ? docOf(cur, storeId) : null }
    }
    if (cur && cur.url === input.url && (cur.timeout_ms ?? undefined) === input.timeout_ms) {
      record(cur.version, 'unchanged')
      return { doc: docOf(cur, storeId), created: false }
    }
    const at = cur && Date.parse(cur.updated_at) > now ? cur.updated_at : new Date(now).toISOString()
    const row: Row = { version: (cur?.version ?? 0) + 1, url: input.url, timeout_ms: input.timeout_ms ?? null, updated_at: at }
    q().insert.run({ ...row, created_by: ctx?.actor ?? null, comment: ctx?.comment ?? null })
    record(row.version, 'created')
    return { doc: docOf(row, storeId), created: true }
  })
  const register = db.transaction(({ agent: a, presentedHash, newHash, create }: Registering, now: Date): RegisterOutcome => {
    const row = q().agent.get(a.agent_id)
    const fields = { agent_id: a.agent_id, hostname: a.hostname ?? null, worker_url: a.worker_url ?? null, labels: JSON.stringify(a.labels ?? {}), now: now.toISOString(), token_hash: newHash }
    if (row === null) {
      if (!create) return 'limited'
      q().insertAgent.run(fields)
      return 'created'
    }
    if (row.revoked_at !== null) return 'revoked'
    if (row.token_hash !== null && row.token_hash !== presentedHash) return 'mismatch'
    q().updateAgent.run(fields)
    return 'known'
  })
  const tokenRow = (r: TokenRow): TokenRow => ({ agent_id: r.agent_id, token_hash: r.token_hash, revoked: Boolean(r.revoked) })

  return {
    kind: 'sqlite',
    get storeId() {
      return storeId
    },
    async migrate() {
      db.exec('create table if not exists schema_migrations (id integer primary key, name text not null, applied_at text not null)')
      db.transaction(() => {
        const done = new Set(db.query<{ id: number }, []>('select id from schema_migrations').all().map((r) => r.id))
        for (const m of migrations) {
          if (done.has(m.id)) continue
          db.exec(m.sqlite)
          db.query('insert into schema_migrations (id, name, applied_at) values (?, ?, ?)').run(m.id, m.name, new Date().toISOString())
        }
      }).immediate()
      storeId = db.query<{ value: string }, []>(`select value from store_meta where key = 'store_id'`).get()!.value
    },
    async current() {
      // The identity is read with the row, never kept: a replaced file has its own.
      storeId = q().storeId.get()!.value
      const r = q().current.get()
      return r ? docOf(r, storeId) : null
    },
    async newIdentity(previous) {
      storeId = q().rotate.get(previous)!.value
      return storeId
    },
    async write(input, { deadline }, ctx) {
      // IMMEDIATE takes the write lock up front, so two processes sharing the file serialise here.
      const r = write.immediate(input, deadline, ctx)
      if ('rollout' in r) throw new RolloutActive()
      if ('failed' in r) throw new PreconditionFailed(r.failed ?? null)
      return r
    },
    async versions(limit, before) {
      return q().versions.all({ limit, before: before ?? 2 ** 31 }).map((r) => entryOf(r, q().storeId.get()!.value))
    },
    async version(n) {
      const r = q().version.get(n)
      return r ? entryOf(r, q().storeId.get()!.value) : null
    },
    async converged(versions, at) {
      db.transaction(() => {
        for (const version of versions) q().converged.run({ version, at: at.toISOString() })
      }).immediate()
    },
    async saveReports(reports) {
      return db.transaction((rs: AgentReport[]) =>
        rs.flatMap((r) =>
          q().report.all(reportParams(r)).map((x) => x.agent_id),
        ),
      ).immediate(reports)
    },
    async agents() {
      return q().agents.all().map(agentOf)
    },
    async agent(id) {
      const r = q().agentById.get(id)
      return r ? agentOf(r) : null
    },
    async appendAudit(r) {
      audit(r)
    },
    async createRollout(r) {
      try {
        return rolloutOf(
          q().insertRollout.get({
            ...r,
            spec: JSON.stringify(r.spec),
            eligible: JSON.stringify(r.eligible),
            decisions: JSON.stringify(r.decisions),
          })!,
        )
      } catch (e) {
        // The unique index allows one running or paused rollout.
        if (e instanceof Error && /UNIQUE constraint failed/.test(e.message)) return null
        throw e
      }
    },
    async rollout(id) {
      const r = q().rollout.get(id)
      return r ? rolloutOf(r) : null
    },
    async activeRollout() {
      const r = q().activeRollout.get()
      return r ? rolloutOf(r) : null
    },
    async rollouts(limit) {
      return q().rollouts.all(limit).map(rolloutOf)
    },
    async updateRollout(id, rev, patch) {
      const sets = Object.keys(patch).map((k) => {
        if (!PATCHABLE.has(k)) throw new Error(`not a rollout field: ${k}`)
        return `${k} = $${k}`
      })
      const values: Record<string, string | number | null> = { id, rev, now: new Date().toISOString() }
      for (const [k, v] of Object.entries(patch)) values[k] = k === 'decisions' ? JSON.stringify(v) : (v as string | number | null)
      const r = db
        .query<RolloutDbRow, Record<string, string | number | null>>(
          `update rollouts set ${[...sets, 'rev = rev + 1', 'updated_at = $now'].join(', ')} where id = $id and rev = $rev returning ${ROLLOUT_COLUMNS}`,
        )
        .get(values)
      return r ? rolloutOf(r) : null
    },
    async leaseRollout(id, owner, untilMs) {
      return q().lease.get({ id, owner, until: new Date(untilMs).toISOString(), now: new Date().toISOString() }) !== null
    },
    async saveHealth(rows) {
      const at = new Date().toISOString()
      db.transaction(() => {
        for (const r of rows) q().addHealth.run({ ...r, at })
      }).immediate()
    },
    async health(versions) {
      if (versions.length === 0) return []
      return db
        .query<HealthRow, number[]>(`select agent_id, version, hits, errors, p99_ms from agent_health where version in (${versions.map(() => '?').join(', ')})`)
        .all(...versions)
    },
    async createSession(r) {
      q().createSession.run(r)
    },
    async session(idHash) {
      return q().session.get(idHash) ?? null
    },
    async endSession(idHash) {
      q().endSession.run({ id_hash: idHash, at: new Date().toISOString() })
    },
    async audit(limit, before) {
      return q().audit.all({ limit, before: before ?? Number.MAX_SAFE_INTEGER }).map(auditOf)
    },
    async registerAgent(r, now = new Date()) {
      return register.immediate(r, now)
    },
    async revokeAgent(id, now = new Date()) {
      return q().revoke.get({ id, now: now.toISOString() }) ?? null
    },
    async tokenByHash(hash) {
      const r = q().byHash.get(hash)
      return r ? tokenRow(r) : null
    },
    async agentTokens(which) {
      return (which === 'all' ? q().allTokens : q().revokedTokens).all().map(tokenRow)
    },
    async ping() {
      // A real (tiny) write: a full disk or a read-only file makes the store unready, not just slow.
      q().touch.run({ at: new Date().toISOString() })
    },
    async close() {
      db.close()
    },
  }
}
