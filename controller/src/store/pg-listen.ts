import type postgres from 'postgres'
import { open, type renewable } from './pg-pool'

/** How often a replica checks that its LISTEN connection still hears (by notifying itself). */
export const PING_MS = 5000
const PING_CHANNEL = 'dcm_ping'

type Channel = { name: string; onPayload: (payload: string) => void; onReconnect: () => void; first: boolean; handle?: { unlisten(): Promise<void> } }

/** The replica's one LISTEN connection, for every channel. It can go half-open (its peer lost without
 *  a close): then it hears nothing, for ever. So the replica NOTIFYs itself every PING_MS through the
 *  pool; a connection that missed pings the pool did send is replaced, every channel listened to again,
 *  and each told to catch up on what it missed. */
export function listening(url: string, pool: ReturnType<typeof renewable>) {
  let sql: postgres.Sql = open(url, 1)
  const channels: Channel[] = []
  const me = crypto.randomUUID()
  let heardAt = Date.now()
  let sentOkAt = 0
  let replacing = false

  const subscribe = async (on: postgres.Sql, c: Channel) => {
    c.handle = await on.listen(c.name, c.onPayload, () => {
      // Runs on every (re)connect of the listening connection; after the first, catch up.
      if (!c.first) c.onReconnect()
      c.first = false
    })
  }
  const ping: Channel = { name: PING_CHANNEL, onPayload: (p) => p === me && (heardAt = Date.now()), onReconnect: () => {}, first: true }

  const replace = async () => {
    replacing = true
    const old = sql
    sql = open(url, 1)
    void old.end({ timeout: 0 }).catch(() => {})
    try {
      for (const c of [ping, ...channels]) {
        c.first = true
        await subscribe(sql, c)
      }
      heardAt = Date.now()
      for (const c of channels) c.onReconnect()
    } catch {
      // The database is not there either: try again at the next tick.
    } finally {
      replacing = false
    }
  }

  const timer = setInterval(async () => {
    if (replacing) return
    if (sentOkAt - heardAt > 2 * PING_MS) return void replace()
    try {
      await pool.run(AbortSignal.timeout(PING_MS), (q) => q`select pg_notify(${PING_CHANNEL}, ${me})`)
      sentOkAt = Date.now()
    } catch {
      // The pool cannot reach the database: the listening connection is not the one to blame.
    }
  }, PING_MS)
  timer.unref()
  let started: Promise<void> | undefined

  return {
    /** Listen to `name`; `onReconnect` runs after the connection came back (notifications may be lost). */
    async listen(name: string, onPayload: (payload: string) => void, onReconnect: () => void) {
      started ??= subscribe(sql, ping)
      await started
      const c: Channel = { name, onPayload, onReconnect, first: true }
      channels.push(c)
      await subscribe(sql, c)
      return {
        close: async () => {
          channels.splice(channels.indexOf(c), 1)
          await c.handle?.unlisten().catch(() => {})
        },
      }
    },
    async end() {
      clearInterval(timer)
      await sql.end({ timeout: 2 })
    },
  }
}
