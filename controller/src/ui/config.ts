/** Config: the current document and who wrote it; edit with If-Match = the ETag that was loaded. */
import { api, ApiError, describe } from './api'
import { fill, h, when } from './dom'
import { clearErrors, field, setError, showRefusal } from './form'
import type { Page } from './main'

type Entry = { version: number; url: string; timeout_ms?: number; store_id: string; updated_at: string; created_by: string | null; comment: string | null }

const current = h('div', { class: 'card', 'aria-live': 'polite' })
const url = field('URL', h('input', { type: 'url', required: true, autocomplete: 'off', spellcheck: 'false' }), 'The upstream that every worker calls on /hit: http:// or https://')
const timeout = field('Timeout (ms)', h('input', { type: 'number', min: 1, max: 60000, step: 1, inputmode: 'numeric' }), '1 to 60000; empty for the worker’s default')
const comment = field('Comment', h('input', { type: 'text', maxlength: 500, autocomplete: 'off' }), 'Why: kept in the history, not sent to agents')
const formError = h('p', { class: 'error', role: 'alert' })
const conflict = h('div', { class: 'conflict', role: 'alert', hidden: true })
const saved = h('p', { class: 'ok', role: 'status' })
const save = h('button', { type: 'submit' }, 'Save')
let loaded: { etag: string | null; doc: Entry | null } = { etag: null, doc: null }
let dirty = false

/** Read the current config; `force` puts it into the form, `clean` only when nothing was typed since
 *  the form was last filled (also while this read was under way), `never` leaves the form alone. */
async function load(form: 'force' | 'clean' | 'never') {
  let etag: string | null = null
  let doc: Entry | null = null
  try {
    const cur = await api('/config')
    etag = cur.headers.get('etag')
    const v = await api(`/config/versions/${cur.body.version}`)
    doc = v.body
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) {
      fill(current, h('p', { class: 'error' }, `Could not read the config: ${describe(e)}`))
      return null
    }
  }
  if (form === 'force' || (form === 'clean' && !dirty)) {
    loaded = { etag, doc }
    dirty = false
    conflict.hidden = true
    url.input.value = doc?.url ?? ''
    timeout.input.value = doc?.timeout_ms === undefined ? '' : String(doc.timeout_ms)
    comment.input.value = ''
  }
  renderCurrent(doc)
  return { etag, doc }
}

function renderCurrent(doc: Entry | null) {
  if (!doc) return fill(current, h('p', {}, 'No config yet: save the first one below.'))
  fill(
    current,
    h('h2', {}, `Version ${doc.version}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'URL'),
      h('dd', { class: 'mono' }, doc.url),
      h('dt', {}, 'Timeout'),
      h('dd', {}, doc.timeout_ms === undefined ? 'default' : `${doc.timeout_ms} ms`),
      h('dt', {}, 'Written by'),
      h('dd', {}, doc.created_by ?? 'unknown'),
      h('dt', {}, 'Comment'),
      h('dd', {}, doc.comment ?? '—'),
      h('dt', {}, 'Written at'),
      h('dd', {}, when(doc.updated_at)),
      h('dt', {}, 'Store'),
      h('dd', { class: 'mono' }, doc.store_id),
    ),
  )
}

async function submit(e: Event) {
  e.preventDefault()
  clearErrors([url, timeout, comment], formError)
  saved.textContent = ''
  const body: Record<string, unknown> = { url: url.input.value.trim() }
  if (!body.url) return setError(url, 'Enter the upstream URL.')
  const t = timeout.input.value.trim()
  if (t) {
    if (!/^\d+$/.test(t)) return setError(timeout, 'A whole number of milliseconds, 1 to 60000.')
    body.timeout_ms = Number(t)
  }
  if (comment.input.value.trim()) body.comment = comment.input.value.trim()
  save.disabled = true
  try {
    const res = await api('/config', { method: 'POST', json: body, ifMatch: loaded.etag ?? undefined })
    await load('force')
    saved.textContent = res.status === 201 ? `Saved as version ${res.body.version}.` : `Nothing changed: version ${res.body.version} already has this URL and timeout.`
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) await showConflict()
    else showRefusal(err, (p) => ({ url, timeout_ms: timeout, comment })[p], formError)
  } finally {
    save.disabled = false
  }
}

/** 412: someone saved in between. Keep the operator's edits, say what is current now. */
async function showConflict() {
  const now = await load('never')
  const doc = now?.doc
  fill(
    conflict,
    h('h2', {}, 'Changed meanwhile'),
    h('p', {}, doc ? `Version ${doc.version} was saved by ${doc.created_by ?? 'someone'} after you loaded version ${loaded.doc?.version ?? '—'}: URL ${doc.url}. Nothing of yours was saved.` : 'The config changed after you loaded it. Nothing of yours was saved.'),
    h('button', { type: 'button', onclick: () => void load('force').then(() => url.input.focus()) }, `Edit version ${doc?.version ?? 'current'}`),
  )
  conflict.hidden = false
  ;(conflict.querySelector('button') as HTMLButtonElement).focus()
}

export const configPage: Page = {
  mount(root) {
    const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'config-edit-title', onsubmit: submit }, h('h2', { id: 'config-edit-title' }, 'Edit config'), url.wrap, timeout.wrap, comment.wrap, formError, h('div', { class: 'actions' }, save), saved)
    form.addEventListener('input', () => (dirty = true))
    fill(root, h('h1', { id: 'config-title', tabindex: -1 }, 'Config'), h('div', { class: 'grid' }, current, h('div', {}, conflict, form)))
  },
  async refresh() {
    // A live event must not wipe what the operator is typing: the form keeps the ETag it loaded.
    await load('clean')
  },
}
