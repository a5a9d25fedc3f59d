/** Bench only: preloaded into the agent and the worker of figure 2 (`bun --preload`, BENCH_TAP=agent or
 *  worker), so the script learns when each step of a change happens without asking the services over
 *  and over. Each event goes to the script over the process's IPC channel, a few microseconds of work
 *  here. Each carries this process's own time, which the script turns into its clock with an offset it
 *  measured through the same channel (`clock`: asked 20 times, the quickest answer kept, so within tens of
 *  microseconds; the processes' own clocks differ by up to a millisecond). The script's figure itself uses
 *  the arrival of `applied`, the moment a client could know; the own times split where the time went.
 *
 *  - worker `applied`: ConfigService.apply swapped in a new version (what GET /state then shows).
 *  - agent, at its transport (fetch): `received` a poll answered 200 (the version from its ETag), `push`
 *    a POST /config to the worker sent, `reported` a poll sent with X-Applied-Version (the agent tells
 *    the controller; it does so only once its state file holds that version). */
export type Tap = { ev: 'applied' | 'received' | 'push' | 'reported'; version: number; at: number } | { ev: 'clock'; at: number }
export const clock = () => performance.timeOrigin + performance.now()
const send = (t: Omit<Extract<Tap, { version: number }>, 'at'>) => process.send?.({ ...t, at: clock() })

if (process.env.BENCH_TAP) process.on('message', (m) => m === 'clock' && process.send?.({ ev: 'clock', at: clock() } satisfies Tap))

if (process.env.BENCH_TAP === 'worker') {
  const { ConfigService } = await import('../../worker/src/config/service')
  const apply = ConfigService.prototype.apply
  if (typeof apply !== 'function') throw new Error('bench tap: ConfigService.prototype.apply is gone; update bench/lib/taps.ts')
  ConfigService.prototype.apply = function (this: InstanceType<typeof ConfigService>, ...args: Parameters<typeof apply>) {
    const reply = apply.apply(this, args)
    if (reply.applied) send({ ev: 'applied', version: reply.version })
    return reply
  }
}

if (process.env.BENCH_TAP === 'agent') {
  const real = globalThis.fetch
  const tapped = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const url = String(input instanceof Request ? input.url : input)
    // The agent's calls: GET <controller>/config[?wait=…] (polls), POST <worker>/config (pushes), GET <worker>/state.
    const config = /\/config(\?|$)/.test(url)
    const post = init?.method === 'POST'
    const applied = (init?.headers as Record<string, string> | undefined)?.['x-applied-version']
    if (config && post && typeof init?.body === 'string') send({ ev: 'push', version: (JSON.parse(init.body) as { version: number }).version })
    else if (config && applied) send({ ev: 'reported', version: Number(applied) })
    const res = await real(input, init)
    // A poll's 200: the ETag starts with the version ("7-…").
    if (config && !post && res.status === 200) send({ ev: 'received', version: Number(/^"(\d+)-/.exec(res.headers.get('etag') ?? '')?.[1]) })
    return res
  }
  globalThis.fetch = Object.assign(tapped, real)
}
