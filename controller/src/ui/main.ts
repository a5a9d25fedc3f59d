/** The console's shell: session, navigation by the URL's hash, and live updates from /ui/events. */
import { api, ApiError, describe, session } from './api'
import { $ } from './dom'
import { auditPage } from './audit'
import { configPage } from './config'
import { fleetPage } from './fleet'
import { historyPage } from './history'
import { rolloutsPage } from './rollouts'

export type Page = {
  /** Build the section's content once. */
  mount(root: HTMLElement): void
  /** Read what the section shows from the API (on arrival and on a live event). */
  refresh(): Promise<void>
}

const PAGES: Record<string, Page> = { config: configPage, history: historyPage, fleet: fleetPage, rollouts: rolloutsPage, audit: auditPage }
const REFRESH_ON: Record<string, string[]> = { config: ['config', 'history', 'fleet', 'rollouts', 'audit'], fleet: ['fleet', 'rollouts'], rollout: ['rollouts', 'config', 'history', 'audit'] }
const mounted = new Set<string>()
let current = ''
let firstLoad = true
let events: EventSource | null = null

function show(id: string) {
  for (const s of document.querySelectorAll<HTMLElement>('main > section')) s.hidden = s.id !== `page-${id}`
  $('#loading').hidden = true
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    if (a.hash === `#${id}`) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
}

async function go() {
  if (!session.signedIn) return
  const id = location.hash.slice(1) in PAGES ? location.hash.slice(1) : 'config'
  const page = PAGES[id]!
  if (!mounted.has(id)) {
    page.mount($(`#page-${id}`))
    mounted.add(id)
  }
  // Focus follows a move to another page (or out of the sign-in form), not the first load.
  const moved = current !== id && !firstLoad
  firstLoad = false
  current = id
  show(id)
  document.title = `${id[0]!.toUpperCase()}${id.slice(1)} · dcm console`
  if (moved) $<HTMLElement>(`#${id}-title`)?.focus()
  await refresh(id)
}

function signedIn(actor: string) {
  $('#actor').textContent = `Signed in as ${actor}`
  $('#nav').hidden = false
  $('#who').hidden = false
  listen()
  void go()
}

function signedOut(message = '') {
  session.set(null)
  events?.close()
  events = null
  current = ''
  $('#nav').hidden = true
  $('#who').hidden = true
  show('signin')
  document.title = 'Sign in · dcm console'
  $('#signin-error').textContent = message
  firstLoad = false
  $<HTMLInputElement>('#signin-key').focus()
}

/** One refresh of a page at a time: events arriving meanwhile cause one more, so the last answer shown
 *  is never older than the last event. */
const running = new Map<string, Promise<void>>()
const again = new Set<string>()
function refresh(id: string): Promise<void> {
  if (running.has(id)) {
    again.add(id)
    return running.get(id)!
  }
  const p = PAGES[id]!.refresh().finally(() => {
    running.delete(id)
    if (again.delete(id)) void refresh(id)
  })
  running.set(id, p)
  return p
}

/** Live updates: each event re-reads what it concerns on the page in view; no timer polling. */
function listen() {
  events?.close()
  const live = $('#live')
  const es = new EventSource('/ui/events')
  events = es
  let dropped = false
  es.onopen = () => {
    live.textContent = 'Live'
    // Events may have been missed while the stream was down: read the page again.
    if (dropped && current) void refresh(current)
    dropped = false
  }
  es.onerror = async () => {
    dropped = true
    if (es.readyState !== EventSource.CLOSED) {
      live.textContent = 'Reconnecting…'
      return
    }
    // The browser gave up (an answer other than the stream, e.g. 401): is the session still there?
    live.textContent = 'Offline'
    try {
      await api('/ui/session', { quiet401: true })
      setTimeout(() => events === es && listen(), 5000)
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) signedOut('Your session has ended. Sign in again.')
      else setTimeout(() => events === es && listen(), 5000)
    }
  }
  for (const kind of Object.keys(REFRESH_ON)) {
    es.addEventListener(kind, () => {
      if (REFRESH_ON[kind]!.includes(current)) void refresh(current)
    })
  }
}

$('#signin-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const input = $<HTMLInputElement>('#signin-key')
  const error = $('#signin-error')
  const button = $<HTMLButtonElement>('#signin-form button')
  if (!input.value.trim()) {
    error.textContent = 'Enter an admin key.'
    input.setAttribute('aria-invalid', 'true')
    return
  }
  button.disabled = true
  error.textContent = ''
  try {
    const { body } = await api('/ui/session', { method: 'POST', json: { key: input.value.trim() }, quiet401: true })
    input.value = ''
    input.removeAttribute('aria-invalid')
    session.set(body.csrf_token)
    signedIn(body.actor)
  } catch (err) {
    input.setAttribute('aria-invalid', 'true')
    if (err instanceof ApiError && err.status === 401) error.textContent = 'That key was not accepted. Check it and try again.'
    else if (err instanceof ApiError && err.status === 429) {
      const after = err.headers.get('retry-after')
      error.textContent = `Too many failed sign-ins from this address. Try again${after ? ` in ${after} s` : ' later'}.`
    } else error.textContent = `Sign-in failed: ${describe(err)}`
    input.focus()
  } finally {
    button.disabled = false
  }
})

$('#sign-out').addEventListener('click', async () => {
  try {
    await api('/ui/session', { method: 'DELETE', quiet401: true })
  } catch (err) {
    // Already ended (401): signed out all the same. Anything else: the session may still be alive on the
    // controller, so the page says so and stays signed in, for another try.
    if (!(err instanceof ApiError && err.status === 401)) {
      window.alert(`Sign-out failed: ${describe(err)}. The session is still open; try again.`)
      return
    }
  }
  signedOut('You are signed out.')
})

session.onEnd((why) => signedOut(why))
window.addEventListener('hashchange', () => void go())

try {
  const { body } = await api('/ui/session', { quiet401: true })
  session.set(body.csrf_token)
  signedIn(body.actor)
} catch {
  signedOut()
}
