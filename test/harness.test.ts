import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** Processes whose environment holds `mark`. */
function marked(mark: string): number[] {
  return readdirSync('/proc').flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return []
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(`DCM_TEST_MARK=${mark}`) ? [Number(pid)] : []
    } catch {
      return []
    }
  })
}

test('a failing test leaves no service process behind', async () => {
  const mark = crypto.randomUUID()
  const run = Bun.spawn(['bun', 'test', './test/fixtures/spawn-then-fail.ts'], {
    cwd: join(import.meta.dir, '..'),
    env: { ...process.env, DCM_TEST_MARK: mark },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const code = await run.exited
  const out = await new Response(run.stderr).text()
  expect(out).toContain('failing on purpose') // the services did start, and the test failed
  expect(code).not.toBe(0)
  expect(marked(mark)).toEqual([])
})
