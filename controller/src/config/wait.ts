import { Invalid } from '@dcm/shared'

export const MAX_WAIT_SECONDS = 60

/** `?wait=<seconds>` from the URL; 0 when absent. Parsed by hand: the hot path skips query parsing. */
export function waitSeconds(url: string): number {
  const q = url.indexOf('?')
  if (q === -1) return 0
  const raw = new URLSearchParams(url.slice(q + 1)).get('wait')
  if (raw === null || raw === '') return 0
  const n = /^\d{1,5}(\.\d{1,6})?$/.test(raw) ? Number(raw) : NaN
  if (!(n <= MAX_WAIT_SECONDS)) throw new Invalid(`query parameter "wait" must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`)
  return n
}
