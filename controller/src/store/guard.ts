import { Unavailable, type Logger } from '@dcm/shared'
import { ANSWER_DEADLINE_MS } from './deadlines'
import { PreconditionFailed, RolloutActive } from './types'

/** Store calls that failed and became a 503 here, since start (read by /metrics: dcm_store_errors_total). */
export const storeErrors = { total: 0 }

/** Run a store call with a deadline; any failure becomes a 503 the caller can act on. The call gets a
 *  signal that aborts at the deadline, so a store can cancel its work rather than leave it running.
 *  The driver's own message (host names, user names) goes to the log, not to the answer. */
export async function guard<T>(
  call: (signal: AbortSignal) => Promise<T>,
  what: 'read' | 'write',
  logger: Logger,
  requestId?: string,
  deadlineMs = ANSWER_DEADLINE_MS,
): Promise<T> {
  const abort = new AbortController()
  let timer: Timer | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort()
      reject(new Error(`store did not answer within ${deadlineMs} ms`))
    }, deadlineMs)
  })
  try {
    return await Promise.race([call(abort.signal), timeout])
  } catch (e) {
    // A refused precondition is the store's answer, not its failure.
    if (e instanceof Unavailable || e instanceof PreconditionFailed || e instanceof RolloutActive) throw e
    storeErrors.total++
    logger.warn('config store call failed', { what, error: e as Error, request_id: requestId })
    throw unavailable(what)
  } finally {
    clearTimeout(timer)
  }
}

export const unavailable = (what: 'read' | 'write') =>
  new Unavailable(
    what === 'write' ? 'the config store is unavailable; the change was not stored, retry it' : 'the config store is unavailable',
    'store_unavailable',
    1,
  )
