import ipaddr from 'ipaddr.js'
import { isForbiddenAddress } from './address'
import { bareName, type UpstreamAllow } from './allow'

/** Names that reach a metadata service without DNS on the host's own network (GCP resolves the first
 *  three through its metadata server, AWS the last two): refused by name, since the controller cannot
 *  resolve them as a worker would. Any other name is judged by the worker after it resolves it. */
export const METADATA_NAMES: ReadonlySet<string> = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal'])

/** How a URL's host is judged: an IP literal now, a name by the worker after resolution (null: a name
 *  UPSTREAM_ALLOW permits, never checked). WHATWG URL parsing has already turned decimal, hex, octal and
 *  short IPv4 spellings into dotted form, and IPv4-mapped IPv6 into hex. */
export function upstreamHost(url: string, allow: UpstreamAllow): { ip: string } | { name: string } | null {
  const host = new URL(url).hostname
  if (host.startsWith('[')) return { ip: host.slice(1, -1) }
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return { ip: host }
  return allow.names.has(bareName(host)) ? null : { name: host }
}

/** Why an upstream URL is refused before any call (a link-local or cloud metadata address, or a
 *  metadata host name), or null when it may be stored and applied. */
export function upstreamRefusal(url: string, allow: UpstreamAllow): string | null {
  const host = upstreamHost(url, allow)
  if (host === null) return null
  if ('ip' in host) return isForbiddenAddress(host.ip, allow) ? 'names a link-local or cloud metadata address; UPSTREAM_ALLOW can permit it' : null
  return METADATA_NAMES.has(bareName(host.name)) ? 'names a cloud metadata host; UPSTREAM_ALLOW can permit it' : null
}
