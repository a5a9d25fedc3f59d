import { Invalid } from '@dcm/shared'

export const MAX_WAIT_SECONDS = 60

/** `?wait=<seconds>` from the URL; 0 when absent. Parsed by hand: the hot path skips query parsing, and
 *  every re-armed long-poll passes here (URLSearchParams was 2% of the controller's CPU in a release of
 *  10,000 held polls). A query with escapes (% or +) goes through URLSearchParams, which decodes them. */
export function waitSeconds(url: string): number {
  const q = url.indexOf('?')
  if (q === -1) return 0
  const query = url.slice(q + 1)
  const raw = query.includes('%') || query.includes('+') ? new URLSearchParams(query).get('wait') : plainParam(query, 'wait')
  if (raw === null || raw === '') return 0
  const n = /^\d{1,5}(\.\d{1,6})?$/.test(raw) ? Number(raw) : NaN
  if (!(n <= MAX_WAIT_SECONDS)) throw new Invalid(`query parameter "wait" must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`)
  return n
}

/** The first value of `name` in a query without escapes, as URLSearchParams would read it. */
function plainParam(query: string, name: string): string | null {
  for (let from = 0; from <= query.length; ) {
    const amp = query.indexOf('&', from)
    const end = amp === -1 ? query.length : amp
    const eq = query.indexOf('=', from)
    const key = eq !== -1 && eq < end ? query.slice(from, eq) : query.slice(from, end)
    if (key === name) return eq !== -1 && eq < end ? query.slice(eq + 1, end) : ''
    from = end + 1
  }
  return null
}
