/** The propagation anchor: etcd's put → watch latency on loopback, through its v3 JSON gateway
 *  (POST /v3/kv/put, and one streaming POST /v3/watch). */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, start, waitFor, workdir } from './lib/procs'

const b64 = (s: string) => Buffer.from(s).toString('base64')
const unb64 = (s: string) => Buffer.from(s, 'base64').toString()

export type EtcdSample = { fromPutStartMs: number; fromPutReplyMs: number }

/** Start a one-member etcd with a temporary data dir, run `count` puts (after `warmup` more), each
 *  timed from the put's start and from its reply to the watch event carrying its value. */
export async function etcdPutWatch(etcd: string, o: { count: number; warmup: number; perChangeTimeoutMs: number }): Promise<{ samples: EtcdSample[]; version: string }> {
  const client = await freePort()
  const peer = await freePort()
  const dataDir = join(workdir(), 'etcd-data')
  mkdirSync(dataDir, { recursive: true })
  const base = `http://127.0.0.1:${client}`
  const p = start('etcd', [
    etcd,
    '--name=bench',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${base}`,
    `--advertise-client-urls=${base}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=bench=http://127.0.0.1:${peer}`,
    '--initial-cluster-state=new',
    '--logger=zap',
    '--log-level=warn',
  ])
  try {
    await waitFor('etcd /health', async () => ((await (await fetch(`${base}/health`)).json()) as { health?: string }).health === 'true', { proc: p, timeoutMs: 20_000 })
    const version = ((await (await fetch(`${base}/version`)).json()) as { etcdserver: string }).etcdserver

    const key = b64('/dcm/bench/config')
    const seen = new Map<string, number>()
    const watchAbort = new AbortController()
    const res = await fetch(`${base}/v3/watch`, { method: 'POST', body: JSON.stringify({ create_request: { key } }), signal: watchAbort.signal })
    if (!res.ok || !res.body) throw new Error(`etcd watch answered ${res.status}`)
    let created = false
    // The gateway streams one JSON object per line: {"result":{"created":true}} first, then events.
    const reader = (async () => {
      const dec = new TextDecoder()
      let buf = ''
      try {
        for await (const chunk of res.body!) {
          const now = performance.now()
          buf += dec.decode(chunk, { stream: true })
          let nl: number
          while ((nl = buf.indexOf('\n')) !== -1) {
            const line = buf.slice(0, nl).trim()
            buf = buf.slice(nl + 1)
            if (!line) continue
            const msg = JSON.parse(line) as { result?: { created?: boolean; events?: { kv?: { value?: string } }[] } }
            if (msg.result?.created) created = true
            for (const ev of msg.result?.events ?? []) if (ev.kv?.value) seen.set(unb64(ev.kv.value), now)
          }
        }
      } catch (e) {
        if (!watchAbort.signal.aborted) throw e
      }
    })()
    await waitFor('etcd watch created', () => created, { timeoutMs: 5000 })

    const samples: EtcdSample[] = []
    for (let i = 0; i < o.warmup + o.count; i++) {
      const value = `v${i}`
      const t0 = performance.now()
      const put = await fetch(`${base}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key, value: b64(value) }) })
      const tReply = performance.now()
      if (!put.ok) throw new Error(`etcd put answered ${put.status}`)
      await put.arrayBuffer()
      const deadline = t0 + o.perChangeTimeoutMs
      while (!seen.has(value)) {
        if (performance.now() > deadline) throw new Error(`etcd watch did not deliver put ${i} within ${o.perChangeTimeoutMs} ms`)
        await Bun.sleep(0)
      }
      const tEvent = seen.get(value)!
      if (i >= o.warmup) samples.push({ fromPutStartMs: tEvent - t0, fromPutReplyMs: Math.max(0, tEvent - tReply) })
      await Bun.sleep(Math.random() * 5)
    }
    watchAbort.abort()
    await reader.catch(() => {})
    return { samples, version }
  } finally {
    await p.stop()
  }
}
