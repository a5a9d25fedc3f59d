/** The anchors: a one-member etcd on loopback with a fresh data dir (figures 2 and 3); for figure 2, puts
 *  through its v3 JSON gateway, each timed from the put's start to the event on one streaming watch. */
import { freePort } from '../test/kit'
import { ready, run, workdir } from './lib/dcm'

export const b64 = (s: string) => Buffer.from(s).toString('base64')

let n = 0
/** A one-member etcd on loopback with a fresh data dir, healthy; `version` is its server's. */
export async function startEtcd(etcd: string) {
  const [client, peer] = [await freePort(), await freePort()]
  const base = `http://127.0.0.1:${client}`
  const p = run('etcd', [etcd, '--name=bench', `--data-dir=${workdir()}/etcd-${++n}`, `--listen-client-urls=${base}`, `--advertise-client-urls=${base}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`, `--initial-cluster=bench=http://127.0.0.1:${peer}`, '--log-level=warn'])
  await ready(p, 'etcd /health', async () => ((await (await fetch(`${base}/health`)).json()) as { health?: string }).health === 'true')
  const version = ((await (await fetch(`${base}/version`)).json()) as { etcdserver: string }).etcdserver
  return Object.assign(p, { base, port: client, pid: p.proc.pid, version })
}

export async function etcdPutWatch(etcd: string, o: { count: number; warmup: number }): Promise<{ ms: number[]; version: string }> {
  const p = await startEtcd(etcd)
  const { base, version } = p
  const key = b64('/dcm/bench/config')
  const events = new Map<string, PromiseWithResolvers<number>>()
  const event = (value: string) => events.get(value) ?? events.set(value, Promise.withResolvers<number>()).get(value)!
  const abort = new AbortController()
  const res = await fetch(`${base}/v3/watch`, { method: 'POST', body: JSON.stringify({ create_request: { key } }), signal: abort.signal })
  let created = false
  // One JSON object per line: {"result":{"created":true}} first, then the events.
  const reader = (async () => {
    let buf = ''
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      const now = performance.now()
      const lines = (buf += chunk).split('\n')
      buf = lines.pop()!
      for (const line of lines.filter(Boolean)) {
        const r = (JSON.parse(line) as { result?: { created?: boolean; events?: { kv?: { value?: string } }[] } }).result
        created ||= !!r?.created
        for (const ev of r?.events ?? []) event(Buffer.from(ev.kv?.value ?? '', 'base64').toString()).resolve(now)
      }
    }
  })().catch(() => {})
  await ready(p, 'etcd watch created', () => created, 5000)
  const ms: number[] = []
  for (let i = 0; i < o.warmup + o.count; i++) {
    const t0 = performance.now()
    const put = await fetch(`${base}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key, value: b64(`v${i}`) }) })
    if (!put.ok) throw new Error(`etcd put answered ${put.status}`)
    await put.arrayBuffer()
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`etcd watch: no event for put ${i} within 5 s`)), 5000).unref())
    const at = await Promise.race([event(`v${i}`).promise, late])
    if (i >= o.warmup) ms.push(at - t0)
    await Bun.sleep(Math.random() * 5)
  }
  abort.abort()
  await reader
  await p.stop()
  return { ms, version }
}
