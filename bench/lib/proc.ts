/** What /proc says about a process and the machine: CPU time, resident memory, open-file limits. */
import { readFileSync } from 'node:fs'

const HZ = 100 // USER_HZ, 100 on every Linux this runs on
const statFields = (pid: number | 'self') => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number)
}

/** CPU seconds (user + system) the process has used so far. */
export const cpuSeconds = (pid: number) => ((f) => (f[11]! + f[12]!) / HZ)(statFields(pid))

/** CPU seconds of this process's children that have exited (the wrk runs). */
export const reapedSeconds = () => ((f) => (f[13]! + f[14]!) / HZ)(statFields('self'))

/** CPU seconds every process on the machine has used so far: all but idle and iowait. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / HZ
}

const statusKb = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024

/** Resident memory in bytes (VmRSS). */
export const rssBytes = (pid: number) => statusKb(pid, 'VmRSS')

/** The anonymous part of VmRSS (RssAnon): the process's own heap and stacks, without the pages of the
 *  executable and libraries it maps (shared with every process that maps the same files). */
export const rssAnonBytes = (pid: number) => statusKb(pid, 'RssAnon')

/** The direct children of a process (nginx's worker under its master). */
export const childPids = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)

/** The hard open-file limit children inherit (Bun raises its soft limit to it). */
export function openFileLimit(): number {
  const m = /Max open files\s+\S+\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'))
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1])
}

/** Whether `ulimit -n n` can be set for a child (raising the hard limit needs privileges). */
export const canSetFileLimit = (n: number) => Bun.spawnSync(['sh', '-c', `ulimit -n ${n}`], { stdout: 'ignore', stderr: 'ignore' }).exitCode === 0
