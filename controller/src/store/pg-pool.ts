import postgres from 'postgres'
import { DB_DEADLINE_MS } from './deadlines'

// Every connection carries the deadline into the database: a statement or a lock wait that outlives it
// is ended there, so it cannot finish after the caller was told it failed.
const connection = {
  application_name: 'dcm-controller',
  statement_timeout: DB_DEADLINE_MS,
  lock_timeout: DB_DEADLINE_MS,
  idle_in_transaction_session_timeout: DB_DEADLINE_MS,
}

export const open = (url: string, max: number) => postgres(url, { max, connect_timeout: 5, idle_timeout: 60, max_lifetime: 60 * 30, onnotice: () => {}, connection })

/** A postgres.js instance that is swapped for a fresh one when a call on it gets no answer in time or
 *  fails for want of a connection: a connection the database no longer talks to must not hold up later
 *  calls. (postgres.js 3.4.9 can leave a query pending for ever after a clean close during connection
 *  start-up: porsager/postgres#1193.) */
export function renewable(url: string, max: number) {
  let sql = open(url, max)
  const renew = (old: postgres.Sql) => {
    if (sql !== old) return
    sql = open(url, max)
    void old.end({ timeout: 0 }).catch(() => {})
  }
  return {
    get sql() {
      return sql
    },
    /** Run the query `make` builds; when `signal` aborts first, cancel it and renew the instance. */
    async run<R extends readonly postgres.MaybeRow[]>(signal: AbortSignal | undefined, make: (sql: postgres.Sql) => postgres.PendingQuery<R>): Promise<postgres.RowList<R>> {
      const used = sql
      const query = make(used)
      const onAbort = () => {
        void query.cancel()
        renew(used)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        return await query
      } catch (e) {
        if (!(e instanceof postgres.PostgresError)) renew(used)
        throw e
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
    },
    end: () => sql.end({ timeout: 2 }),
  }
}

