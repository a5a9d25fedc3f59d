/** The admin console (/ui) in a real browser — Debian's chromium driven by playwright-core — against a
 *  real controller, real agents and workers and upstream stubs: sign-in, a config change the fleet rows
 *  follow live, a refused version flagged, rollback from the history, the compare-and-set conflict from a
 *  second session, a rollout that halts and rolls back, sign-out. Each page is saved as a screenshot in
 *  test/browser/artifacts/ (UPDATE_SCREENSHOTS=1 also refreshes docs/console/). */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Locator, Page } from 'playwright-core'
import { call, freePort, spawnService, upstreamStub, waitFor, type Service } from '../harness'
import { agentEnv, controllerEnv, KEYS } from '../stack'
import { haveChromium, screenshot, theBrowser } from './chromium'

setDefaultTimeout(120_000)
// Polls every 0.5 s (stale after 1.7 s unseen, out of reach of a loaded CI machine running chromium).
const FAST = { POLL_INTERVAL_SECONDS: '0.5', FLEET_FLUSH_SECONDS: '0.2', ROLLOUT_TICK_SECONDS: '0.2' }
const ready = await haveChromium()

type Pair = { agent: Service; worker: Service; id: string }
type Fleet = { controller: Service; pairs: Pair[]; upstream: string; bad: string; console: string }
/** Where the browser goes: the controller itself serves the console and its session routes. */
const consoleAt = (controller: Service) => controller.url

/** A controller with version 1 set (the upstream stub), and `n` agent/worker pairs in sync with it. */
async function fleet(n: number, extra: Record<string, string> = {}): Promise<Fleet> {
  const upstream = upstreamStub('upstream').url
  const bad = upstreamStub('bad', () => new Response('broken', { status: 500 })).url
  const port = await freePort()
  const controller = await spawnService('controller', { port, env: controllerEnv(port, { ...FAST, ...extra }) })
  expect((await call(`${controller.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: `${upstream}/v1`, comment: 'first' } })).status).toBe(201)
  const pairs = await Promise.all(
    Array.from({ length: n }, async () => {
      const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
      const agent = await spawnService('agent', { env: agentEnv(controller.url, worker.url) })
      const id = await waitFor('the agent registered', async () => (await call(`${agent.url}/state`)).body?.agent_id as string | null)
      return { agent, worker, id }
    }),
  )
  await waitFor('every agent in sync at version 1', async () => (await call(`${controller.url}/agents`, { key: KEYS.admin })).body.summary.in_sync === n)
  return { controller, pairs, upstream, bad, console: consoleAt(controller) }
}

/** A fresh browser session (its own cookies) at a phone or laptop size. */
async function session(f: Fleet, size = { width: 1280, height: 900 }) {
  const context = await (await theBrowser()).newContext({ viewport: size, colorScheme: 'light' })
  const page = await context.newPage()
  await page.goto(`${f.console}/ui`)
  return { context, page }
}

const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true })
const go = async (page: Page, name: string) => {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name, exact: true }).click()
  await region(page, name).getByRole('heading', { name, exact: true, level: 1 }).waitFor()
}
const text = async (l: Locator) => (await l.innerText()).replace(/\s+/g, ' ').trim()
/** Wait (with a deadline) until the text of `l` satisfies `ok`; the last text is in the error. */
async function until(what: string, l: Locator, ok: (t: string) => boolean, timeoutMs = 20_000) {
  let last = ''
  try {
    return await waitFor(what, async () => ((last = await text(l).catch(() => '')), ok(last) ? last : null), timeoutMs, 50)
  } catch (e) {
    throw new Error(`${(e as Error).message}; last seen: ${JSON.stringify(last.slice(0, 500))}`)
  }
}

async function signIn(page: Page, key = KEYS.admin) {
  const form = region(page, 'Sign in')
  await form.getByLabel('Admin key', { exact: true }).fill(key)
  await form.getByRole('button', { name: 'Sign in', exact: true }).click()
}

/** The fleet table as the operator reads it: agent id → [status cell, applied cell]. */
async function fleetRows(page: Page): Promise<Record<string, [string, string]>> {
  const rows = await region(page, 'Fleet').getByRole('table', { name: 'Agents' }).locator('tbody tr[data-agent]').evaluateAll((trs: any[]) => trs.map((tr) => [tr.dataset.agent, tr.cells[2].innerText.trim(), tr.cells[3].innerText.trim()]))
  return Object.fromEntries(rows.map(([id, status, applied]: string[]) => [id!, [status!, applied!]]))
}
const everyRow = (f: Fleet, rows: Record<string, [string, string]>, status: string, applied: string) => f.pairs.every((p) => rows[p.id]?.[0] === status && rows[p.id]?.[1] === applied)

describe.skipIf(!ready)('the admin console in a browser', () => {
  test('sign in; a saved config turns the fleet rows in_sync live; a refused version is flagged; roll back from the history; audit; sign out', async () => {
    const f = await fleet(2)
    const { context, page } = await session(f)

    // A wrong key is refused with a message, and the key field is marked invalid.
    await region(page, 'Sign in').getByRole('heading', { name: 'Sign in' }).waitFor()
    // Signed out, the page offers nothing but the form: no sections, no sign-out.
    expect(await page.getByRole('navigation', { name: 'Sections' }).isVisible()).toBe(false)
    expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(false)
    await screenshot(page, 'signin')
    await signIn(page, 'not-the-key')
    expect(await until('the refusal', region(page, 'Sign in').getByRole('alert'), (t) => t.length > 0)).toContain('not accepted')
    // The right key, by keyboard alone: type it and press Enter.
    await region(page, 'Sign in').getByLabel('Admin key', { exact: true }).fill(KEYS.admin)
    await page.keyboard.press('Enter')
    const config = region(page, 'Config')
    await config.getByRole('heading', { name: 'Config', level: 1 }).waitFor()
    expect(await text(page.getByText(/^Signed in as /))).toMatch(/^Signed in as .+/)
    expect(await until('version 1 shown', config.getByRole('heading', { name: 'Version 1' }), (t) => t === 'Version 1')).toBe('Version 1')
    expect(await text(config.getByText(`${f.upstream}/v1`, { exact: true }).first())).toBe(`${f.upstream}/v1`)
    await screenshot(page, 'config')

    // A second tab shows the fleet; it must follow the change live (server-sent events, no reload).
    const watcher = await context.newPage()
    await watcher.goto(`${f.console}/ui#fleet`)
    await region(watcher, 'Fleet').getByRole('heading', { name: 'Fleet', level: 1 }).waitFor()
    await waitFor('both agents in sync at 1 on the fleet page', async () => everyRow(f, await fleetRows(watcher), 'in_sync', '1'))

    // Field errors come from the API's 422 and sit under the field.
    await config.getByLabel('Timeout (ms)', { exact: true }).fill('70000')
    await config.getByRole('button', { name: 'Save', exact: true }).click()
    const timeoutError = await until('the timeout field error', config.locator('.field', { has: page.getByLabel('Timeout (ms)', { exact: true }) }).locator('.error'), (t) => t.length > 0)
    expect(timeoutError).toContain('60000')
    await config.getByLabel('Timeout (ms)', { exact: true }).fill('')

    await config.getByLabel('URL', { exact: true }).fill(`${f.upstream}/v2`)
    await config.getByLabel('Comment', { exact: true }).fill('move to v2')
    await config.getByRole('button', { name: 'Save', exact: true }).click()
    expect(await until('saved', config.getByRole('status'), (t) => t.startsWith('Saved'))).toBe('Saved as version 2.')
    await waitFor('both rows in_sync at version 2 on the other tab', async () => everyRow(f, await fleetRows(watcher), 'in_sync', '2'), 60_000)
    expect(await text(region(watcher, 'Fleet').getByRole('list', { name: 'Fleet summary' }))).toBe('2 in_sync 0 behind 0 rejected 0 stale')
    await screenshot(watcher, 'fleet')

    // A URL pointing at a worker itself: that worker refuses it, and its row says so.
    const refusing = f.pairs[0]!
    await config.getByLabel('URL', { exact: true }).fill(`${refusing.worker.url}/hit`)
    await config.getByLabel('Comment', { exact: true }).fill('')
    await config.getByRole('button', { name: 'Save', exact: true }).click()
    expect(await until('saved', config.getByRole('status'), (t) => t.startsWith('Saved'))).toBe('Saved as version 3.')
    await waitFor('the refusing agent flagged rejected', async () => (await fleetRows(watcher))[refusing.id]?.[0].startsWith('rejected'))
    const row = region(watcher, 'Fleet').getByRole('row').filter({ hasText: refusing.id })
    expect(await text(row.getByRole('cell').nth(1))).toBe('rejected version 3 refused: validation_failed')
    // Filters: by status, and by a search for the agent's id.
    await region(watcher, 'Fleet').getByLabel('Status', { exact: true }).selectOption('rejected')
    expect(Object.keys(await fleetRows(watcher))).toEqual([refusing.id])
    await region(watcher, 'Fleet').getByLabel('Status', { exact: true }).selectOption('')
    await region(watcher, 'Fleet').getByLabel('Search', { exact: true }).fill(f.pairs[1]!.id.slice(0, 8))
    expect(Object.keys(await fleetRows(watcher))).toEqual([f.pairs[1]!.id])
    await region(watcher, 'Fleet').getByLabel('Search', { exact: true }).fill('')
    await screenshot(watcher, 'fleet-rejected')

    // History: newest first, with the author, comment and diff; roll back to version 2 after confirming.
    await go(page, 'History')
    const history = region(page, 'History')
    const v2 = history.getByRole('article', { name: 'Version 2' })
    expect(await text(v2)).toContain('“move to v2”')
    expect(await text(v2.getByRole('table'))).toContain(`url ${f.upstream}/v1 ${f.upstream}/v2`)
    expect(await text(history.getByRole('heading', { level: 2 }).first())).toBe('Version 3 current')
    await v2.getByRole('button', { name: 'Roll back to version 2' }).click()
    const dialog = page.getByRole('dialog', { name: 'Roll back to version 2?' })
    await screenshot(page, 'history-confirm')
    await dialog.getByRole('button', { name: 'Roll back', exact: true }).click()
    expect(await until('rolled back', history.getByRole('status'), (t) => t.startsWith('Rolled back'))).toBe('Rolled back: version 4 has version 2’s content.')
    expect(await text(history.getByRole('article', { name: 'Version 4' }))).toContain('“rollback to 2”')
    await screenshot(page, 'history')
    await waitFor('both rows in_sync at version 4', async () => everyRow(f, await fleetRows(watcher), 'in_sync', '4'), 60_000)

    // Audit: the writes and the rollback, filterable by action.
    await go(page, 'Audit')
    const audit = region(page, 'Audit')
    await until('records', audit.getByRole('status'), (t) => /^\d+ of \d+ records shown$/.test(t) && !t.startsWith('0 '))
    await audit.getByLabel('Action', { exact: true }).selectOption('config.rollback')
    expect(await until('one rollback', audit.getByRole('status'), (t) => t.startsWith('1 of'))).toMatch(/^1 of \d+ records shown$/)
    await screenshot(page, 'audit')

    // Sign out: back at the sign-in form, and the old cookie no longer opens anything.
    const cookie = (await context.cookies()).find((c) => c.name === 'dcm_session')
    expect(cookie?.httpOnly).toBe(true)
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    expect(await until('signed out', region(page, 'Sign in').getByRole('alert'), (t) => t.length > 0)).toBe('You are signed out.')
    const after = await fetch(`${f.console}/agents`, { headers: { cookie: `dcm_session=${cookie!.value}` } })
    expect(after.status).toBe(401)
    await page.reload()
    await region(page, 'Sign in').getByRole('heading', { name: 'Sign in' }).waitFor()
    await context.close()
  })

  test('a save over a version someone else saved meanwhile shows "changed meanwhile" with the new version, and keeps the edit unsaved', async () => {
    const f = await fleet(0)
    const a = await session(f)
    const b = await session(f, { width: 390, height: 844 }) // the second operator is on a phone
    for (const s of [a, b]) {
      await signIn(s.page)
      await until('version 1', region(s.page, 'Config').getByRole('heading', { level: 2 }).first(), (t) => t === 'Version 1')
    }
    // Keyboard alone: Tab reaches the skip link first, with a visible focus ring, then the sections.
    await a.page.reload()
    await region(a.page, 'Config').getByRole('heading', { name: 'Config', level: 1 }).waitFor()
    const focused = () => a.page.evaluate(() => {
      const el = (globalThis as any).document.activeElement
      return { text: (el?.textContent ?? '').trim(), outline: (globalThis as any).getComputedStyle(el).outlineStyle }
    })
    await a.page.keyboard.press('Tab')
    expect(await focused()).toEqual({ text: 'Skip to content', outline: 'solid' })
    for (let i = 0; i < 3; i++) await a.page.keyboard.press('Tab')
    expect(await focused()).toEqual({ text: 'Fleet', outline: 'solid' })
    await a.page.keyboard.press('Enter')
    await region(a.page, 'Fleet').getByRole('heading', { name: 'Fleet', level: 1 }).waitFor()
    expect((await focused()).text).toBe('Fleet') // the new page's heading has the focus
    await go(a.page, 'Config')
    await until('version 1', region(a.page, 'Config').getByRole('heading', { level: 2 }).first(), (t) => t === 'Version 1')

    // At phone width nothing needs sideways scrolling.
    expect(await b.page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth <= (globalThis as any).innerWidth)).toBe(true)
    await screenshot(b.page, 'config-phone')

    const ca = region(a.page, 'Config')
    await ca.getByLabel('URL', { exact: true }).fill(`${f.upstream}/from-a`)
    const cb = region(b.page, 'Config')
    await cb.getByLabel('URL', { exact: true }).fill(`${f.upstream}/from-b`)
    await cb.getByRole('button', { name: 'Save', exact: true }).click()
    expect(await until('b saved', cb.getByRole('status'), (t) => t.startsWith('Saved'))).toBe('Saved as version 2.')

    await ca.getByRole('button', { name: 'Save', exact: true }).click()
    const conflict = ca.getByRole('alert').filter({ hasText: 'Changed meanwhile' })
    expect(await until('the conflict', conflict, (t) => t.includes('Version 2'))).toContain(`Version 2 was saved by`)
    expect(await text(conflict)).toContain(`${f.upstream}/from-b`)
    expect(await ca.getByLabel('URL', { exact: true }).inputValue()).toBe(`${f.upstream}/from-a`) // the edit is kept
    await screenshot(a.page, 'config-conflict')
    expect((await call(`${f.controller.url}/config`, { key: KEYS.admin })).body.url).toBe(`${f.upstream}/from-b`)

    // Taking the new version and saving again works.
    await conflict.getByRole('button', { name: 'Edit version 2' }).click()
    await waitFor('the form holding version 2', async () => (await ca.getByLabel('URL', { exact: true }).inputValue()) === `${f.upstream}/from-b`)
    await ca.getByLabel('URL', { exact: true }).fill(`${f.upstream}/from-a`)
    await ca.getByRole('button', { name: 'Save', exact: true }).click()
    expect(await until('a saved', ca.getByRole('status'), (t) => t.startsWith('Saved'))).toBe('Saved as version 3.')
    await a.context.close()
    await b.context.close()
  })

  test('failed sign-ins are limited like any failed authentication: the form says to wait', async () => {
    const f = await fleet(0, { AUTH_FAILURES_PER_MINUTE: '2' })
    const { context, page } = await session(f)
    const alert = region(page, 'Sign in').getByRole('alert')
    for (let i = 0; i < 3; i++) await signIn(page, `wrong-${i}`)
    expect(await until('the limit', alert, (t) => t.startsWith('Too many'))).toMatch(/^Too many failed sign-ins from this address\. Try again (in \d+ s|later)\.$/)
    await context.close()
  })

  test('a rollout started from the console halts at its first step on a failing candidate and rolls back; another is paused, resumed and aborted', async () => {
    const f = await fleet(3)
    // /hit on every worker, over and over, so the workers have health to report.
    let on = true
    const traffic = f.pairs.map(async (p) => {
      while (on) {
        await fetch(`${p.worker.url}/hit`).then((r) => r.arrayBuffer()).catch(() => {})
        await Bun.sleep(5)
      }
    })
    try {
      const { context, page } = await session(f)
      await signIn(page)
      await go(page, 'Rollouts')
      const ro = region(page, 'Rollouts')
      expect(await until('no rollout', ro.getByText('No rollout is running.'), (t) => t.length > 0)).toBe('No rollout is running.')
      const form = ro.getByRole('form', { name: 'Start a rollout' })
      await form.getByLabel('Candidate URL', { exact: true }).fill(`${f.bad}/v2`)
      await form.getByLabel('Steps', { exact: true }).fill('nonsense')
      await form.getByRole('button', { name: 'Start rollout' }).click()
      expect(await until('steps error', form.locator('.field', { has: page.getByLabel('Steps', { exact: true }) }).locator('.error'), (t) => t.length > 0)).toContain('percent:bake seconds')
      await form.getByLabel('Steps', { exact: true }).fill('25:3,100:1')
      await form.getByLabel('Max error rate', { exact: true }).fill('0.1')
      await form.getByLabel('Min hits', { exact: true }).fill('5')
      await form.getByRole('button', { name: 'Start rollout' }).click()
      const started = await until('started', ro.getByRole('status').first(), (t) => t.startsWith('Rollout'))
      expect(started).toMatch(/^Rollout \S+ started: version 2\.$/)
      const current = ro.getByRole('heading', { name: /^Current rollout \S+$/ })
      await current.waitFor()
      await screenshot(page, 'rollouts')
      // The rollout ends by itself: rolled back, with the gate's reason, and shows among recent rollouts.
      const recent = ro.getByRole('table', { name: 'Recent rollouts' })
      const ended = await until('rolled back', recent.locator('tbody tr').first(), (t) => t.includes('rolled_back'), 40_000)
      expect(ended).toMatch(/error rate .* above 0\.1/)
      expect(await until('no rollout', ro.getByText('No rollout is running.'), (t) => t.length > 0)).toBe('No rollout is running.')
      await screenshot(page, 'rollouts-rolled-back')
      // The rollback is a new version with the stable content, written by the rollout.
      await go(page, 'History')
      expect(await text(region(page, 'History').getByRole('article', { name: 'Version 3' }))).toContain('by rollout')

      // Steering: a long bake, paused, resumed, then aborted after a confirmation.
      await go(page, 'Rollouts')
      await form.getByLabel('Candidate URL', { exact: true }).fill(`${f.upstream}/v3`)
      await form.getByLabel('Steps', { exact: true }).fill('50:600,100:0')
      await form.getByRole('button', { name: 'Start rollout' }).click()
      const state = ro.getByRole('heading', { name: /^Current rollout \S+$/ }).locator('xpath=following-sibling::p[1]').locator('.badge')
      expect(await until('running', state, (t) => t === 'running')).toBe('running')
      await ro.getByRole('button', { name: 'Pause', exact: true }).click()
      expect(await until('paused', state, (t) => t === 'paused')).toBe('paused')
      await ro.getByRole('button', { name: 'Resume', exact: true }).click()
      expect(await until('running again', state, (t) => t === 'running')).toBe('running')
      await ro.getByRole('button', { name: 'Abort', exact: true }).click()
      await page.getByRole('dialog', { name: /^Abort rollout/ }).getByRole('button', { name: 'Abort rollout' }).click()
      expect(await until('aborted', recent.locator('tbody tr').first(), (t) => t.includes('aborted'))).toContain('aborted')
      expect(await until('no rollout', ro.getByText('No rollout is running.'), (t) => t.length > 0)).toBe('No rollout is running.')
      await context.close()
    } finally {
      on = false
      await Promise.all(traffic)
    }
  })
})
