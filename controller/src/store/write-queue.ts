import { Unavailable } from '@dcm/shared'
import { LateWrite } from './types'

/** How long past its deadline a write may still hold up the next one: the database refuses it by then. */
const GRACE_MS = 1000

/** This replica's config writes, one at a time and at most `max` waiting. The database serialises
 *  writes anyway; queueing them here keeps them from taking every pooled connection (so health checks
 *  and registrations still get one), and a write whose deadline passes while it waits is never sent.
 *  A write that never settles (a connection the database no longer answers) holds up the next one only
 *  until its own deadline has passed: from then on the database refuses it. */
export class WriteQueue {
  #tail: Promise<unknown> = Promise.resolve()
  #waiting = 0

  constructor(private readonly max = 1000) {}

  run<T>(deadline: number, write: () => Promise<T>): Promise<T> {
    if (this.#waiting >= this.max) return Promise.reject(new Unavailable('too many config writes are waiting; retry shortly', 'busy', 1))
    this.#waiting++
    const turn = this.#tail.then(() => {
      this.#waiting--
      if (Date.now() >= deadline) throw new LateWrite()
      return write()
    })
    let timer: Timer | undefined
    const released = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline + GRACE_MS - Date.now()))
    })
    this.#tail = Promise.race([turn.catch(() => {}), released]).finally(() => clearTimeout(timer))
    return turn
  }
}
