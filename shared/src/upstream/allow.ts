import ipaddr from 'ipaddr.js'
import { SettingsError } from '../settings'

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number]

/** What UPSTREAM_ALLOW permits although the upstream rules would refuse it: address ranges, and host
 *  names (exact, case-insensitive, without a trailing dot) that are neither refused by name nor checked
 *  after resolution. */
export type UpstreamAllow = { readonly cidrs: readonly Cidr[]; readonly names: ReadonlySet<string> }

export const NOTHING_ALLOWED: UpstreamAllow = Object.freeze({ cidrs: [], names: new Set<string>() })

const NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/

/** A host name as the rules compare it: lower case, no trailing dot. */
export const bareName = (host: string) => host.toLowerCase().replace(/\.+$/, '')

/** Parse UPSTREAM_ALLOW: comma-separated CIDRs (`169.254.169.254/32`), single addresses, or host names.
 *  An entry that is none of these stops the service (a typo must not silently allow nothing). */
export function parseUpstreamAllow(text: string | undefined, setting = 'UPSTREAM_ALLOW'): UpstreamAllow {
  const cidrs: Cidr[] = []
  const names = new Set<string>()
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim()
    if (!entry) continue
    if (ipaddr.isValidCIDR(entry)) cidrs.push(ipaddr.parseCIDR(entry))
    else if (ipaddr.IPv4.isValidFourPartDecimal(entry) || (entry.includes(':') && ipaddr.IPv6.isValid(entry))) {
      const ip = ipaddr.parse(entry)
      cidrs.push([ip, ip.kind() === 'ipv4' ? 32 : 128])
    } else if (NAME.test(bareName(entry)) && !/^[\d.]+$/.test(entry)) names.add(bareName(entry))
    else throw new SettingsError([`${setting}: ${JSON.stringify(entry)} is neither a CIDR (e.g. 169.254.169.254/32), an IP address nor a host name`])
  }
  return Object.freeze({ cidrs, names })
}
