import { keyChecker, type Credentials } from '@dcm/shared'
import type { TokenRegistry } from './tokens'

/** Who may call the controller: the shared agent (bootstrap) key, an admin key, or an agent's own token. */
export type Role = 'agent' | 'admin' | 'token'

/** The configured keys first (a digest, in constant time), then the agents' tokens (a hash looked up
 *  here, or in the store once). */
export function controllerCredentials(keys: { agentKeys: readonly string[]; adminKeys: readonly string[] }, tokens: TokenRegistry): Credentials<Role> {
  const roleOf = keyChecker({ agent: keys.agentKeys, admin: keys.adminKeys })
  return {
    known: (presented) => roleOf.known(presented) ?? tokens.known(presented),
    verify: (presented, quick) => roleOf(presented) ?? tokens.verify(presented, quick),
  }
}
