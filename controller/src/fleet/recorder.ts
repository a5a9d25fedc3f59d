import type { Role } from '../agents'
import type { TokenRegistry } from '../agents/tokens'
import { reportedId, type FleetReports } from './reports'

const noop = () => {}

/** Turns a poll into a report about the agent that made it: an agent token names its agent; with the
 *  shared key, X-Agent-Id does. Admin polls (the CLI's watch) report nothing. */
export class PollRecorder {
  constructor(
    private readonly reports: FleetReports,
    private readonly tokens: TokenRegistry,
  ) {}

  #agent(request: Request, role: Role, key: string): string | null {
    if (role === 'token') return this.tokens.agentOf(key) ?? null
    return role === 'agent' ? reportedId(request.headers.get('x-agent-id')) : null
  }

  /** A poll answered with (or confirming) `version`. */
  polled(request: Request, role: Role, key: string, version: number | null): void {
    const id = this.#agent(request, role, key)
    if (id !== null) this.reports.poll(id, request.headers, version, Date.now())
  }

  /** A poll about to be held: counts as seen until the returned function is called. */
  holding(request: Request, role: Role, key: string): () => void {
    const id = this.#agent(request, role, key)
    return id === null ? noop : this.reports.hold(id)
  }
}
