/** Debian's chromium for the browser tests, driven by playwright-core (no browser download): installed
 *  with apt-get when missing (we run as root in CI; `apt-get update` only when the install fails).
 *  Under CI=true a browser that cannot be had fails the run; elsewhere its suite is skipped, visibly. */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { onCleanup } from '../harness'

export const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
export const ARTIFACTS = join(import.meta.dir, 'artifacts')
const DOCS = join(import.meta.dir, '..', '..', 'docs', 'console')

async function aptInstall(): Promise<string> {
  const run = async (args: string[]) => {
    const p = Bun.spawn(['apt-get', ...args], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()])
    return { code, text: `${out}${err}`.slice(-2000) }
  }
  let r = await run(['install', '-y', '-q', 'chromium'])
  if (r.code !== 0) {
    await run(['update', '-q'])
    r = await run(['install', '-y', '-q', 'chromium'])
  }
  return r.code === 0 ? '' : r.text
}

/** True when chromium is there (installing it if need be); false (with a message) when the suite is to
 *  be skipped; throws under CI=true. */
export async function haveChromium(): Promise<boolean> {
  if (existsSync(CHROMIUM)) return true
  let why: string
  try {
    why = await aptInstall()
  } catch (e) {
    why = String(e)
  }
  if (existsSync(CHROMIUM)) return true
  const message = `browser tests need ${CHROMIUM}; apt-get install -y chromium failed:\n${why}`
  if (process.env.CI === 'true') throw new Error(message)
  console.warn(`SKIPPED: ${message}`)
  return false
}

let browser: Browser | null = null
/** One browser for the file, closed at the end of the run. */
export async function theBrowser(): Promise<Browser> {
  if (browser?.isConnected()) return browser
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 60_000 })
  const b = browser
  onCleanup(() => b.close())
  return b
}

/** The pages the README shows (docs/console/<name>.png). */
const DOC_PAGES = new Set(['signin', 'config', 'config-conflict', 'config-phone', 'history', 'fleet-rejected', 'rollouts', 'audit'])

/** Save a screenshot as a test artifact (ignored by git); with UPDATE_SCREENSHOTS=1 the README's pages
 *  are also copied to docs/console/. */
export async function screenshot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true })
  const png = await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
  if (process.env.UPDATE_SCREENSHOTS === '1' && DOC_PAGES.has(name)) {
    mkdirSync(DOCS, { recursive: true })
    await Bun.write(join(DOCS, `${name}.png`), png)
  }
}
