import ipaddr from 'ipaddr.js'
import type { UpstreamAllow } from './allow'

/** Where an upstream call must not go unless UPSTREAM_ALLOW says so: link-local ranges (every cloud's
 *  instance metadata service lives there, at 169.254.169.254, and AWS ECS task metadata at
 *  169.254.170.2) and the metadata addresses outside them. Loopback, private and unspecified addresses
 *  stay allowed: an upstream on the same host or network is ordinary (tests and `make dev` use 127.0.0.1). */
export const FORBIDDEN_RANGES = ['169.254.0.0/16', 'fe80::/10', 'fd00:ec2::254/128', '100.100.100.200/32'] as const
// 169.254.0.0/16   IPv4 link-local: AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack metadata
// fe80::/10        IPv6 link-local
// fd00:ec2::254    AWS instance metadata over IPv6
// 100.100.100.200  Alibaba Cloud instance metadata

const forbidden = FORBIDDEN_RANGES.map((c) => ipaddr.parseCIDR(c))

/** IPv6 prefixes (/96) whose last 32 bits are an IPv4 address a connection may end up at: IPv4-mapped
 *  (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated) and NAT64's well-known prefix. */
const EMBEDS_IPV4 = [ipaddr.parseCIDR('::ffff:0:0/96'), ipaddr.parseCIDR('::/96'), ipaddr.parseCIDR('64:ff9b::/96')]

const within = (ip: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][]) =>
  ranges.some((r) => r[0].kind() === ip.kind() && ip.match(r))

/** The IPv4 address an IPv6 one carries in its last 32 bits, for the prefixes that route to it. */
function embeddedIPv4(ip: ipaddr.IPv6): ipaddr.IPv4 | null {
  if (!within(ip, EMBEDS_IPV4)) return null
  const p = ip.parts
  return new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff])
}

/** True when `ip` (an IPv4 or IPv6 address in any spelling ipaddr.js parses, zone ids included) is a
 *  link-local or cloud metadata address, or an IPv6 form of one, and no UPSTREAM_ALLOW range covers it.
 *  Text that is not an address is not forbidden (names are judged elsewhere). */
export function isForbiddenAddress(ip: string, allow: UpstreamAllow): boolean {
  if (!ipaddr.isValid(ip)) return false
  const addr = ipaddr.parse(ip)
  const candidates = addr.kind() === 'ipv6' ? [addr, embeddedIPv4(addr as ipaddr.IPv6)] : [addr]
  for (const c of candidates) if (c && within(c, forbidden) && !within(c, allow.cidrs) && !within(addr, allow.cidrs)) return true
  return false
}
