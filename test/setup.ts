/** Preloaded for every test file (bunfig.toml): no service process outlives its test, and stubs,
 *  proxies and databases are cleaned up at the end of the run. */
import { afterAll, afterEach } from 'bun:test'
import { runCleanups, stopAll } from './harness'

afterEach(stopAll)
afterAll(async () => {
  await stopAll()
  await runCleanups()
})
