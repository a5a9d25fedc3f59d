/** Run wrk against a URL and read its summary; optionally the CPU a server process used meanwhile. */
import { readFileSync } from 'node:fs'
import { cpuSeconds, machineBusySeconds, reapedChildrenSeconds, start } from './procs'
import { parseWrk, type WrkSummary } from './wrk-output'

export type WrkOptions = { threads: number; connections: number; seconds: number; headers?: Record<string, string> }

export type WrkResult = WrkSummary & {
  /** CPU seconds per wall second of the watched server process (1.0 = one core busy). */
  serverCpu: number
  /** The same for wrk, and for every other process on the machine (noise from outside the run). */
  wrkCpu: number
  otherCpu: number
  /** CPU seconds the watched server process used during the run. */
  serverCpuSeconds: number
  raw: string
}

/** One wrk run. Bounded: wrk stops itself after `seconds`, and is killed if it overstays by 20 s. */
export async function wrk(url: string, o: WrkOptions, watchPid?: number): Promise<WrkResult> {
  const args = ['wrk', `-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '--timeout', '5s']
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`)
  args.push(url)
  const cpu0 = watchPid ? cpuSeconds(watchPid) : 0
  const busy0 = machineBusySeconds()
  const kids0 = reapedChildrenSeconds()
  const t0 = performance.now()
  const p = start('wrk', args)
  const finished = await Promise.race([p.proc.exited.then(() => true), Bun.sleep((o.seconds + 20) * 1000).then(() => false)])
  const wall = (performance.now() - t0) / 1000
  const serverCpuSeconds = watchPid ? cpuSeconds(watchPid) - cpu0 : NaN
  const cpu = serverCpuSeconds / wall
  await p.stop()
  const wrkCpu = (reapedChildrenSeconds() - kids0) / wall
  const otherCpu = Math.max(0, (machineBusySeconds() - busy0) / wall - wrkCpu - (Number.isFinite(cpu) ? cpu : 0))
  const raw = readFileSync(p.log, 'utf8')
  if (!finished) throw new Error(`wrk did not finish within ${o.seconds + 20} s:\n${raw}`)
  if (p.proc.exitCode !== 0) throw new Error(`wrk exited with ${p.proc.exitCode}:\n${raw}`)
  return { ...parseWrk(raw), serverCpu: cpu, serverCpuSeconds, wrkCpu, otherCpu, raw }
}
