import { afterEach, expect, test } from 'bun:test'
import { metricsText } from '@dcm/shared'
import { histogramOf, parseMetrics, valueOf } from '../../test/prom-text'
import { controllerMetrics, observeConvergence, setAgentsProvider } from './metrics'
import { storeErrors } from './store/guard'

afterEach(() => setAgentsProvider(null))

const scrape = async (m: ReturnType<typeof controllerMetrics>) => parseMetrics(await metricsText(m))

test('version and held polls are read at scrape time; no config yet is version 0', async () => {
  let version: number | null = null
  let held = 0
  const m = controllerMetrics({ version: () => version, held: () => held })
  expect([valueOf(await scrape(m), 'dcm_config_version'), valueOf(await scrape(m), 'dcm_longpolls_held')]).toEqual([0, 0])
  version = 7
  held = 3
  const after = await scrape(m)
  expect([valueOf(after, 'dcm_config_version'), valueOf(after, 'dcm_longpolls_held')]).toEqual([7, 3])
})

test('config writes are counted by result from the answers to POST /config and POST /config/rollback', async () => {
  const m = controllerMetrics({ version: () => 1, held: () => 0 })
  const answers: [string, number][] = [['/config', 201], ['/config', 201], ['/config', 200], ['/config', 401], ['/config', 422], ['/config', 503], ['/config/rollback', 201], ['/config/rollback', 412]]
  for (const [route, status] of answers) m.http.route(route).add('POST', status, 0.01)
  m.http.route('/config').add('GET', 304, 0.001) // a poll is no write
  const s = await scrape(m)
  const writes = Object.fromEntries(['created', 'unchanged', 'refused', 'precondition_failed', 'failed'].map((result) => [result, valueOf(s, 'dcm_config_writes_total', { result })]))
  expect(writes).toEqual({ created: 3, unchanged: 1, refused: 2, precondition_failed: 1, failed: 1 })
})

test('store errors counted by the guard show as dcm_store_errors_total', async () => {
  const m = controllerMetrics({ version: () => 1, held: () => 0 })
  const before = valueOf(await scrape(m), 'dcm_store_errors_total')!
  storeErrors.total++
  expect(valueOf(await scrape(m), 'dcm_store_errors_total')).toBe(before + 1)
})

test('dcm_agents has no samples until a provider is set, then its summary at each scrape', async () => {
  const m = controllerMetrics({ version: () => 1, held: () => 0 })
  expect((await scrape(m)).dcm_agents?.data).toEqual([])
  let summary = { in_sync: 3, behind: 1, rejected: 0, stale: 2 }
  setAgentsProvider(() => summary)
  const agents = async () => {
    const s = await scrape(m)
    return Object.fromEntries(['in_sync', 'behind', 'rejected', 'stale'].map((status) => [status, valueOf(s, 'dcm_agents', { status })]))
  }
  expect(await agents()).toEqual(summary)
  summary = { in_sync: 6, behind: 0, rejected: 0, stale: 0 }
  expect(await agents()).toEqual(summary)
})

test('observeConvergence feeds dcm_config_convergence_seconds of every registry; nonsense is ignored', async () => {
  const m = controllerMetrics({ version: () => 1, held: () => 0 })
  const before = histogramOf(await scrape(m), 'dcm_config_convergence_seconds')!
  observeConvergence(0.02)
  observeConvergence(3)
  observeConvergence(-1)
  observeConvergence(Number.NaN)
  const after = histogramOf(await scrape(m), 'dcm_config_convergence_seconds')!
  expect({ count: after.count - before.count, le_005: after.buckets['0.05']! - before.buckets['0.05']!, le_5: after.buckets['5']! - before.buckets['5']! }).toEqual({ count: 2, le_005: 1, le_5: 2 })
})
