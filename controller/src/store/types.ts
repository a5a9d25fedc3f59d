import type { ConfigDoc } from '@dcm/shared'

/** What a write asks for; the store adds version and updated_at. */
export type ConfigInput = { url: string; timeout_ms?: number }

export type AgentRecord = {
  agent_id: string
  hostname?: string
  worker_url?: string
  labels?: Record<string, string>
}

export type WriteOptions = {
  /** Epoch ms (this process's clock) after which the database must not apply the write. */
  deadline: number
  /** Aborted when the caller has given up: the store cancels the statement. */
  signal?: AbortSignal
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
  write(input: ConfigInput, opts: WriteOptions): Promise<{ doc: ConfigDoc; created: boolean }>
  /** Insert or update an agent; `created` is false when the id was already known. */
  registerAgent(agent: AgentRecord, now?: Date, signal?: AbortSignal): Promise<{ created: boolean }>
  /** Hear about versions written by other processes (PostgreSQL LISTEN/NOTIFY). `onResubscribe` runs
   *  after the listening connection came back, when notifications may have been missed. Absent for
   *  SQLite, which relies on the periodic refresh. */
  subscribe?(onDoc: (doc: ConfigDoc) => void, onResubscribe: () => void): Promise<{ close(): Promise<void> }>
  /** Resolves when the store answers and can take a write. */
  ping(signal?: AbortSignal): Promise<void>
  close(): Promise<void>
}
