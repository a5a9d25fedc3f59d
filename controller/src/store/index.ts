import { postgresStore } from './postgres'
import { sqliteStore } from './sqlite'
import type { ConfigStore } from './types'

export type { Decision, HealthRow, SessionRow, RolloutPatch, RolloutRow, RolloutSpec, RolloutState, AgentReport, AgentRow, AuditInput, AuditRecord, ConfigStore, ConfigInput, AgentRecord, RegisterOutcome, Registering, TokenRow, VersionEntry, WriteContext, WriteOptions } from './types'
export { LateWrite, PreconditionFailed, RolloutActive } from './types'
export { guard, unavailable } from './guard'
export { ANSWER_DEADLINE_MS, DB_DEADLINE_MS } from './deadlines'
export { postgresStore } from './postgres'
export { sqliteStore } from './sqlite'

/** PostgreSQL when a postgres:// URL is given, else the embedded SQLite file. */
export function openStore(opts: { databaseUrl?: string; sqlitePath: string }): ConfigStore {
  return opts.databaseUrl ? postgresStore(opts.databaseUrl) : sqliteStore(opts.sqlitePath)
}
