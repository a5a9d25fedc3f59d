/** Nearest-rank percentile of `xs` (0 < p ≤ 100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export const fmtMs = (ms: number) => (Number.isFinite(ms) ? (ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`) : 'n/a')
export const fmtRps = (rps: number) => (Number.isFinite(rps) ? `${Math.round(rps).toLocaleString('en-US')} req/s` : 'n/a')
export const fmtMB = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MB` : 'n/a')
export const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : 'n/a')
