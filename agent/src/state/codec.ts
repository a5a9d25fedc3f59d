import { Value } from '@sinclair/typebox/value'
import { AgentState } from './model'

const FORMAT = 2
const sha256 = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest('hex')

/** Serialise with a checksum over the JSON text of the state, so a torn or edited file is detected. */
export function encode(state: AgentState): string {
  const data = JSON.stringify(state)
  return `{"format":${FORMAT},"checksum":"${sha256(data)}","state":${data}}\n`
}

/** The state in `text`, or why it cannot be trusted. Never throws, whatever the text holds. */
export function decode(text: string): { state: AgentState } | { problem: string } {
  try {
    return check(JSON.parse(text))
  } catch (e) {
    return { problem: e instanceof SyntaxError ? 'not valid JSON (torn or corrupt)' : `unreadable content: ${(e as Error).message}` }
  }
}

function check(parsed: unknown): { state: AgentState } | { problem: string } {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: 'not a state file (no object)' }
  const { format, checksum, state } = parsed as Record<string, unknown>
  if (format !== FORMAT && format !== 1) return { problem: `unknown format ${JSON.stringify(format) ?? 'undefined'}` }
  if (state === undefined) return { problem: 'no state in the file' }
  if (typeof checksum !== 'string' || sha256(JSON.stringify(state)) !== checksum) return { problem: 'checksum mismatch' }
  const upgraded = format === 1 ? fromFormat1(state) : state
  if (!Value.Check(AgentState, upgraded)) return { problem: 'content does not match the state schema' }
  return { state: upgraded }
}

/** Format 1 (before store identities): keep the id and the cached config, marked as from an unknown
 *  store, so the controller's next answer replaces it whatever its number. */
function fromFormat1(s: unknown): unknown {
  if (s === null || typeof s !== 'object') return s
  const { agent_id, etag, config, worker_version } = s as Record<string, unknown>
  const cfg = config && typeof config === 'object' ? { ...(config as object), store_id: 'legacy' } : config
  return { agent_id, etag, config: cfg, worker_version }
}
