import { isForbiddenAddress } from './address'
import type { UpstreamAllow } from './allow'

/** Resolves a host name to its addresses (Bun.dns.lookup, or a stand-in in tests). */
export type Lookup = (host: string) => Promise<{ address: string }[]>

/** Bun's resolver, looked up at call time so a test preload can stand in for it. */
export const systemLookup: Lookup = (host) => Bun.dns.lookup(host)

/** The first address `host` resolves to that the upstream rules forbid, or null when none does. A
 *  lookup that fails rejects (the call would fail the same way). */
export async function forbiddenResolution(host: string, allow: UpstreamAllow, lookup: Lookup = systemLookup): Promise<string | null> {
  for (const { address } of await lookup(host)) if (isForbiddenAddress(address, allow)) return address
  return null
}
