import type { ConfigDoc } from '@dcm/shared'

/** What a write asks for; the store adds version and updated_at. */
export type ConfigInput = { url: string; timeout_ms?: number }

/** Who writes and why, and the precondition the write must meet: recorded with the version and as an
 *  audit record in the same transaction. */
export type WriteContext = {
  /** The admin key's name, or `key:<8 hex of its sha256>`. */
  actor: string
  action: 'config.write' | 'config.rollback' | 'rollout.start' | 'rollout.rollback'
  comment?: string | null
  request_id?: string
  /** If-Match: the current version must be this one (of this store), or any ('any'); absent: no condition. */
  expect?: { store_id: string; version: number } | 'any'
  /** Refused (RolloutActive) while a rollout runs or is paused, checked in the write's own statement. */
  outsideRollout?: boolean
}

/** A version as history shows it. */
export type VersionEntry = ConfigDoc & { created_by: string | null; comment: string | null; converged_at: string | null }

/** An agent as the store knows it (revoked agents are not listed). */
export type AgentRow = {
  agent_id: string
  hostname: string | null
  worker_url: string | null
  labels: Record<string, string>
  registered_at: string
  last_seen_at: string
  fetched_version: number | null
  applied_version: number | null
  /** When a replica first heard of `applied_version` from this agent. */
  applied_at: string | null
  rejected: { version: number; reason: string } | null
}

/** What polls told one replica about one agent since its last batch. */
export type AgentReport = {
  agent_id: string
  last_seen_at: Date
  fetched_version: number | null
  applied_version: number | null
  applied_at: Date | null
  rejected: { version: number; reason: string } | null
}

export type RolloutState = 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted'
export type RolloutSpec = {
  config: { url: string; timeout_ms?: number }
  comment: string | null
  steps: { percent: number; bake_seconds: number }[]
  selector: Record<string, string> | null
  gate: { max_error_rate: number; min_hits: number; max_p99_ms: number | null }
}
export type Decision = { at: string; action: string; step: number; detail: string }

/** A rollout as stored. `eligible` holds the agents taking part, frozen at the start, in cohort order. */
export type RolloutRow = {
  id: number
  version: number
  stable_version: number
  state: RolloutState
  step: number
  spec: RolloutSpec
  eligible: string[]
  step_started_at: string
  reason: string | null
  rollback_version: number | null
  decisions: Decision[]
  created_by: string
  created_at: string
  updated_at: string
  rev: number
}
export type RolloutPatch = Partial<Pick<RolloutRow, 'state' | 'step' | 'step_started_at' | 'reason' | 'rollback_version' | 'decisions'>>

/** Worker health an agent reported for one version, summed over its reports. */
export type HealthRow = { agent_id: string; version: number; hits: number; errors: number; p99_ms: number }

/** A console session as stored (the cookie itself never is). */
export type SessionRow = { id_hash: string; actor: string; csrf: string; expires_at: string; ended_at: string | null }

export type AuditRecord = { id: number; at: string; actor: string; action: string; target: string; request_id: string | null; outcome: string }
export type AuditInput = Omit<AuditRecord, 'id' | 'at'>

export type AgentRecord = {
  agent_id: string
  hostname?: string
  worker_url?: string
  labels?: Record<string, string>
}

/** What a registration asks of the store, decided in one step under the row's lock. */
export type Registering = {
  agent: AgentRecord
  /** sha256 of the token the caller presented (X-Agent-Token), or null. */
  presentedHash: string | null
  /** The hash a new row gets, and a known row without a token adopts; null for a caller that keeps no
   *  token (an agent of an earlier release): its row stays without one. */
  newHash: string | null
  /** Whether a new row may be made (the replica's allowance for new agents). */
  create: boolean
}

/** created: a new row; known: the id's row, its token matching (or adopted); revoked: the id was
 *  revoked; mismatch: the id has another token; limited: a new row was needed but not allowed. */
export type RegisterOutcome = 'created' | 'known' | 'revoked' | 'mismatch' | 'limited'

/** An agent's token as the store knows it (only its hash). */
export type TokenRow = { agent_id: string; token_hash: string; revoked: boolean }

export type WriteOptions = {
  /** Epoch ms (this process's clock) after which the database must not apply the write. */
  deadline: number
  /** Aborted when the caller has given up: the store cancels the statement. */
  signal?: AbortSignal
}

/** If-Match did not hold: nothing was stored; `current` is the version that is (null: none yet). */
export class PreconditionFailed extends Error {
  constructor(readonly current: ConfigDoc | null) {
    super('the config changed since the version named in If-Match')
    this.name = 'PreconditionFailed'
  }
}

/** A plain write while a rollout runs or is paused: nothing was stored. */
export class RolloutActive extends Error {
  constructor() {
    super('a rollout is in progress')
    this.name = 'RolloutActive'
  }
}

/** The write reached the database after its deadline, which refused it: nothing was stored. */
export class LateWrite extends Error {
  constructor() {
    super('the write reached the database after its deadline; nothing was stored')
    this.name = 'LateWrite'
  }
}

/** The controller's durable state. Two implementations (SQLite, PostgreSQL) pass one contract suite. */
export interface ConfigStore {
  readonly kind: 'sqlite' | 'postgres'
  /** Apply pending migrations; safe to run again and from several processes at once. Afterwards
   *  `storeId` is known. */
  migrate(): Promise<void>
  /** This store's identity (a random id made by its first migration), as last read from it. */
  readonly storeId: string
  /** Give the store a new identity unless it already changed from `previous` (another replica did it);
   *  for a store found behind what was served from it (restored from a backup). Returns the identity. */
  newIdentity(previous: string, signal?: AbortSignal): Promise<string>
  /** The newest version, or null when none was ever written. Calls that take a `signal` give up (and
   *  drop the connection they used) when it aborts. */
  current(signal?: AbortSignal): Promise<ConfigDoc | null>
  /** Store `input` as version current+1 unless it equals the current config. Durable before it
   *  resolves; concurrent calls never get the same version; updated_at never goes back as versions go
   *  up. The database itself refuses the write once `deadline` has passed (LateWrite), so a caller that
   *  gave up can say "not stored" and be right. */
  write(input: ConfigInput, opts: WriteOptions, ctx?: WriteContext): Promise<{ doc: ConfigDoc; created: boolean }>
  /** Versions newest first, below `before` when given. */
  versions(limit: number, before: number | null, signal?: AbortSignal): Promise<VersionEntry[]>
  /** One version, or null. */
  version(n: number, signal?: AbortSignal): Promise<VersionEntry | null>
  /** Record when the fleet had applied these versions (kept if already set). */
  converged(versions: number[], at: Date, signal?: AbortSignal): Promise<void>
  /** Write a batch of poll reports; a report only moves an agent's row forward in time (the newest
   *  report wins, whichever replica heard it). Returns the ids that matched a registered agent. */
  saveReports(reports: AgentReport[], signal?: AbortSignal): Promise<string[]>
  /** Every agent not revoked, or one (revoked or unknown: null). */
  agents(signal?: AbortSignal): Promise<AgentRow[]>
  agent(id: string, signal?: AbortSignal): Promise<AgentRow | null>
  appendAudit(r: AuditInput, signal?: AbortSignal): Promise<void>
  /** A new rollout, or null when one is already running or paused (one at a time, by a unique index). */
  createRollout(r: Omit<RolloutRow, 'id' | 'rev' | 'updated_at'>, signal?: AbortSignal): Promise<RolloutRow | null>
  rollout(id: number, signal?: AbortSignal): Promise<RolloutRow | null>
  /** The rollout running or paused, if any. */
  activeRollout(signal?: AbortSignal): Promise<RolloutRow | null>
  rollouts(limit: number, signal?: AbortSignal): Promise<RolloutRow[]>
  /** Change a rollout if it is still at revision `rev` (null: it changed meanwhile). */
  updateRollout(id: number, rev: number, patch: RolloutPatch, signal?: AbortSignal): Promise<RolloutRow | null>
  /** Take or renew the lease to advance a running rollout until `untilMs` (epoch ms); false when another
   *  holder's lease has not run out. */
  leaseRollout(id: number, owner: string, untilMs: number, signal?: AbortSignal): Promise<boolean>
  createSession(r: Omit<SessionRow, 'ended_at'>, signal?: AbortSignal): Promise<void>
  session(idHash: string, signal?: AbortSignal): Promise<SessionRow | null>
  endSession(idHash: string, signal?: AbortSignal): Promise<void>
  /** Add reported health to the sums per agent and version (p99: the highest reported). */
  saveHealth(rows: HealthRow[], signal?: AbortSignal): Promise<void>
  /** The sums for these versions. */
  health(versions: number[], signal?: AbortSignal): Promise<HealthRow[]>
  /** Audit records newest first, below id `before` when given. */
  audit(limit: number, before: number | null, signal?: AbortSignal): Promise<AuditRecord[]>
  /** Register an agent: a new row (with `newHash`) when the id is unknown and `create` allows it; a
   *  known, unrevoked id whose token hash is `presentedHash` (or that has none yet, then it adopts
   *  `newHash`, which may be null) is updated; anything else changes nothing. On PostgreSQL a new or adopted token is
   *  notified to the replicas. */
  registerAgent(r: Registering, now?: Date, signal?: AbortSignal): Promise<RegisterOutcome>
  /** Mark an agent revoked (its token hash is kept, so it is recognised as revoked); null when the id
   *  is unknown. Notified to the replicas on PostgreSQL. */
  revokeAgent(agentId: string, now?: Date, signal?: AbortSignal): Promise<{ token_hash: string | null } | null>
  /** The agent holding the token with this hash, or null. */
  tokenByHash(hash: string, signal?: AbortSignal): Promise<TokenRow | null>
  /** Every agent token (`all`), or those of revoked agents. */
  agentTokens(which: 'all' | 'revoked', signal?: AbortSignal): Promise<TokenRow[]>
  /** Hear about tokens registered or revoked through other processes (PostgreSQL LISTEN/NOTIFY on a
   *  second channel); `onResubscribe` as for subscribe. Absent for SQLite. */
  subscribeAgents?(onToken: (row: TokenRow) => void, onResubscribe: () => void): Promise<{ close(): Promise<void> }>
  /** Hear about versions written by other processes (PostgreSQL LISTEN/NOTIFY). `onResubscribe` runs
   *  after the listening connection came back, when notifications may have been missed. Absent for
   *  SQLite, which relies on the periodic refresh. */
  subscribe?(onDoc: (doc: ConfigDoc) => void, onResubscribe: () => void): Promise<{ close(): Promise<void> }>
  /** Resolves when the store answers and can take a write. */
  ping(signal?: AbortSignal): Promise<void>
  close(): Promise<void>
}
