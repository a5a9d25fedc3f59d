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

  /** The agent a poll comes from (null: an admin, or no id given). */
  agentOf(request: Request, role: Role, key: string): string | null {
    if (role === 'token') return this.tokens.agentOf(key) ?? null
    if (role !== 'agent') return null
    const id = request.headers.get('x-agent-id')
    // An id heard before was checked then: a map lookup instead of the pattern.
    return id !== null && this.reports.knows(id) ? id : reportedId(id)
  }

  /** A poll from an agent already identified (agentOf) answered with (or confirming) `version`. */
  report(agentId: string | null, headers: Headers, version: number | null): void {
    if (agentId !== null) this.reports.poll(agentId, headers, version, Date.now())
  }

  /** A held poll, reported in full when it arrived, was answered with (or confirmed) `version`. */
  answered(agentId: string | null, version: number | null): void {
    if (agentId !== null) this.reports.answered(agentId, version, Date.now())
  }

  /** A poll about to be held: counts as seen until the returned function is called. */
  holding(agentId: string | null): () => void {
    return agentId === null ? noop : this.reports.hold(agentId)
  }
}
