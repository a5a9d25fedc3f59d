/** Runs the property over one target: for each generated request, read the stored state, send it
 *  (raw or through fetch), judge the answer and the state after. fast-check prints the seed and the
 *  shrunk request on a failure. */
import { readdirSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { waitFor } from '../harness'
import { judge, outcomeOf } from './judge'
import { toWire } from './request'
import type { Target } from './targets'
import { sendFetch, sendRaw, type Answer } from './wire'

/** Time a request has to be answered, on top of the pauses of a slow client (BODY_TIMEOUT_MS is 1000 ms
 *  in a fuzz run, 1000 ms): past it the request counts as a hang. Generous: this is a bound, not a figure. */
export const DEADLINE_MS = 10_000
/** How long a request whose answer Bun lost is looked for in the log (it is not there when Bun could
 *  not read the request itself). */
const LOST_ANSWER_WAIT_MS = 1000
/** How often a long-poll not answered yet is looked for in the controller's held_polls. */
const HOLD_PROBE_MS = 200

export const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024
export const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

export type Stats = { label: string; runs: number; outcomes: Record<string, number>; writes: number; rssStartMb: number; rssEndMb: number; seconds: number; notes: Record<string, number> }

/** Seed and runs: fixed in CI, DCM_FUZZ_SEED and DCM_FUZZ_RUNS for longer runs. A failure prints the
 *  seed and a path: DCM_FUZZ_SEED=<seed> DCM_FUZZ_PATH=<path> bun test test/fuzz/routes.test.ts -t '<part>'
 *  replays its shrunk request alone. */
export const fuzzSeed = () => Number(process.env.DCM_FUZZ_SEED ?? 20261128)
export const fuzzRuns = (ci: number) => Number(process.env.DCM_FUZZ_RUNS ?? ci)

const summary = (a: Answer) =>
  a.timedOut ? 'no answer (timed out)' : a.status === null ? `no answer, connection ${a.cut ? 'cut while sending' : 'closed'}` : `${a.head.split('\r\n')[0]} ${a.headers['x-request-id'] ? '' : '(from the HTTP parser) '}${new TextDecoder().decode(a.body).slice(0, 300)}`

export async function fuzz<S>(t: Target<S>, o: { runs: number; seed: number }): Promise<Stats> {
  const t0 = performance.now()
  const pid = t.svc.proc.pid
  const stats: Stats = { label: t.label, runs: 0, outcomes: {}, writes: 0, rssStartMb: rssMb(pid), rssEndMb: 0, seconds: 0, notes: t.notes }
  let tracked = 0
  const property = fc.asyncProperty(t.arbitrary, async (spec) => {
    const before = await t.read()
    // A request with bytes after it may have its answer lost (see answerLost in ./targets.ts); without
    // an X-Request-Id of its own it gets one of ours, so the end of its handling shows in the log.
    const wire = toWire(spec, { keys: t.keys, etag: await t.etag(), track: `fuzz-track-${++tracked}` })
    const deadlineMs = DEADLINE_MS + wire.pausesMs
    const logFrom = t.svc.output().length
    const x =
      spec.transport === 'fetch' && wire.fetch
        ? sendFetch(`${t.svc.url}${wire.fetch.target}`, wire.fetch, { deadlineMs })
        : sendRaw(t.svc.port, wire.pieces, { deadlineMs, headOnly: spec.method === 'HEAD' })
    const bad: string[] = []
    let held = false
    if (t.heldPolls && spec.query.includes('wait')) {
      // Until it is answered, ask the controller now and then whether it holds the poll.
      let answered = false
      void x.done.then(() => (answered = true))
      const until = performance.now() + deadlineMs
      while (!answered && !held && performance.now() < until) {
        await Promise.race([x.done, Bun.sleep(HOLD_PROBE_MS)])
        if (!answered && (await t.heldPolls()) > 0) held = true
      }
      if (held) {
        bad.push(...t.checkHold!(wire, before))
        x.abort()
      }
    }
    const answer = await x.done
    // The answer of a write lost that way: wait until the service is done with it (its log line, or the
    // state changed), or it was never read as a request at all.
    if (wire.trailing && answer.headers['x-request-id'] === undefined && t.service !== 'agent' && spec.method === 'POST' && wire.presented !== null) {
      const logged = wire.requestId && `"request_id":"${wire.requestId}"`
      await waitFor('the request to be handled', async () => (logged && t.svc.output().slice(logFrom).includes(logged)) || JSON.stringify(await t.read()) !== JSON.stringify(before), LOST_ANSWER_WAIT_MS).catch(() => {})
    }
    if (held) {
      try {
        await waitFor('the abandoned long-poll to end', async () => (await t.heldPolls!()) === 0, 10_000)
      } catch {
        bad.push('a long-poll whose client went away is still held 10 s later')
      }
    }
    stats.runs++
    const outcome = outcomeOf(answer, held)
    const key = outcome === 'service' ? String(answer.status) : outcome === 'runtime' ? `parser ${answer.status}` : outcome
    stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1
    if (spec.write) stats.writes++
    if (t.svc.proc.exitCode !== null) bad.push(`the ${t.service} process died (exit ${t.svc.proc.exitCode}); its last output:\n${t.svc.output().slice(-2000)}`)
    else {
      const after = await t.read()
      bad.push(...judge(t.service, spec, wire, answer, { held, deadlineMs, secrets: t.secrets, allowed: t.allowed(wire, before) }))
      bad.push(...t.check(spec, wire, answer, before, after))
    }
    if (bad.length) throw new Error(`${t.label}: ${bad.join('\n')}\n  answer: ${summary(answer)}`)
  })
  const replay = process.env.DCM_FUZZ_PATH
  await fc.assert(property, { numRuns: o.runs, seed: o.seed, examples: t.examples.map((e) => [e] as [typeof e]), ...(replay ? { path: replay, endOnFailure: true } : {}) })
  stats.rssEndMb = rssMb(pid)
  stats.seconds = (performance.now() - t0) / 1000
  return stats
}

/** Every line the service wrote is a JSON log line, and no configured secret is in any of them. */
export function logProblems(t: Target<unknown>, secrets: string[]): string[] {
  const bad: string[] = []
  for (const line of t.svc.output().split('\n')) {
    if (!line) continue
    try {
      JSON.parse(line)
    } catch {
      bad.push(`not a JSON log line: ${line.slice(0, 300)}`)
    }
    for (const s of secrets) if (line.includes(s)) bad.push(`a configured secret in the log: ${line.slice(0, 300)}`)
  }
  return bad.slice(0, 10)
}

export const describeStats = (s: Stats) =>
  `${s.label}: ${s.runs} requests in ${s.seconds.toFixed(1)} s; answers ${JSON.stringify(Object.fromEntries(Object.entries(s.outcomes).sort()))}; ${s.writes} generated valid writes; RSS ${s.rssStartMb.toFixed(0)} → ${s.rssEndMb.toFixed(0)} MB${Object.entries(s.notes).map(([k, n]) => `; ${n}× ${k}`).join('')}`
