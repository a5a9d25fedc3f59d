import type { Logger } from '@dcm/shared'
import type { AgentCounters } from '../metrics'
import type { Settings } from '../settings'
import type { StateStore } from '../state'
import type { Transport } from './transport'

/** Everything the agent touches the world through, passed in: tests hand it a scripted transport, a
 *  fixed clock and predictable ids, and check its decisions without a network or a timer. */
export type AgentDeps = {
  settings: Settings
  store: StateStore
  log: Logger
  transport: Transport
  /** Epoch milliseconds. */
  now: () => number
  /** A number in [0, 1), for backoff and jitter. */
  random: () => number
  /** Request ids for the calls the agent makes. */
  newId: () => string
  hostname: string
  /** Where calls and failed saves are counted for /metrics (absent in tests that do not look). */
  counters?: AgentCounters
}

/** The real world. */
export const realDeps = (settings: Settings, store: StateStore, log: Logger, hostname: string): AgentDeps => ({
  settings,
  store,
  log,
  transport: (url, init) => fetch(url, init),
  now: Date.now,
  random: Math.random,
  newId: () => crypto.randomUUID(),
  hostname,
})
