import type { ConfigDoc } from '@dcm/shared'

/** What a write asks for; the store adds version and updated_at. */
export type ConfigInput = { url: string; timeout_ms?: number }

export type AgentRecord = {
  agent_id: string
  hostname?: string
  worker_url?: string
  labels?: Record<string, string>
}

/** The controller's durable state. Two implementations (SQLite, PostgreSQL) pass one contract suite. */
export interface ConfigStore {
  readonly kind: 'sqlite' | 'postgres'
  /** Apply pending migrations; safe to run again and from several processes at once. */
  migrate(): Promise<void>
  /** The newest version, or null when none was ever written. */
  current(): Promise<ConfigDoc | null>
  /** Store `input` as version current+1 unless it equals the current config. Durable before it resolves;
   *  concurrent calls never get the same version. */
  write(input: ConfigInput, now?: Date): Promise<{ doc: ConfigDoc; created: boolean }>
  /** Versions newest first. */
  history(limit: number): Promise<ConfigDoc[]>
  /** Insert or update an agent; `created` is false when the id was already known. */
  registerAgent(agent: AgentRecord, now?: Date): Promise<{ created: boolean }>
  /** Hear about versions written by other processes (PostgreSQL LISTEN/NOTIFY). `onResubscribe` runs
   *  after the listening connection came back, when notifications may have been missed. Absent for
   *  SQLite, which relies on the periodic refresh. */
  subscribe?(onDoc: (doc: ConfigDoc) => void, onResubscribe: () => void): Promise<{ close(): Promise<void> }>
  /** Resolves when the database answers. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** Two inputs describe the same config. */
export const sameConfig = (doc: ConfigDoc, input: ConfigInput) => doc.url === input.url && doc.timeout_ms === input.timeout_ms
