// RFC 9110 7.6.1: connection-specific fields, plus the de-facto Proxy-Connection and Keep-Alive.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/** Remove hop-by-hop fields (and any field the Connection header names) in place. */
export function stripHopByHop(headers: Headers): Headers {
  const named = headers.get('connection')
  if (named !== null) for (const name of named.split(',')) if (name.trim()) headers.delete(name.trim())
  for (const name of HOP_BY_HOP) headers.delete(name)
  return headers
}
