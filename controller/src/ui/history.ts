/** History: versions newest first, each with its author, comment, a diff against the one before, and
 *  a rollback (a new version with the old content) after a confirmation. */
import { api, ApiError, describe } from './api'
import { confirmDialog, fill, h, when } from './dom'
import type { Page } from './main'

type Entry = { version: number; url: string; timeout_ms?: number; store_id: string; updated_at: string; created_by: string | null; comment: string | null }

const list = h('ol', { class: 'history', reversed: true })
const status = h('p', { role: 'status', class: 'ok' })
const more = h('button', { type: 'button', hidden: true }, 'Older versions')
let entries: Entry[] = []
let nextBefore: number | null = null

const show = (e: Entry, k: 'url' | 'timeout_ms' | 'store_id') => (e[k] === undefined ? 'default' : k === 'timeout_ms' ? `${e[k]} ms` : String(e[k]))

function diff(e: Entry, prev: Entry | undefined, older: boolean) {
  if (!prev) return h('p', { class: 'hint' }, older ? 'Show older versions to compare.' : 'First version in this store.')
  const rows = (['url', 'timeout_ms', 'store_id'] as const).filter((k) => e[k] !== prev[k])
  if (!rows.length) return h('p', { class: 'hint' }, `Same content as version ${prev.version}.`)
  return h(
    'table',
    { class: 'diff' },
    h('caption', {}, `Changes from version ${prev.version}`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'After'))),
    h('tbody', {}, rows.map((k) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'del mono' }, h('del', {}, show(prev, k))), h('td', { class: 'ins mono' }, h('ins', {}, show(e, k)))))),
  )
}

async function rollback(e: Entry) {
  const ok = await confirmDialog(`Roll back to version ${e.version}?`, `A new version is written with version ${e.version}’s URL (${e.url}) and timeout; every agent receives it.`, 'Roll back')
  if (!ok) return
  status.textContent = ''
  try {
    const res = await api('/config/rollback', { method: 'POST', json: { version: e.version } })
    status.textContent = res.status === 201 ? `Rolled back: version ${res.body.version} has version ${e.version}’s content.` : `Version ${e.version}’s content is already current.`
    await historyPage.refresh()
  } catch (err) {
    status.textContent = ''
    fill(status, h('span', { class: 'error' }, `Rollback refused: ${describe(err)}`))
  }
}

function render() {
  const latest = entries[0]?.version
  fill(
    list,
    entries.map((e, i) =>
      h(
        'li',
        { class: 'card' },
        h('article', { 'aria-labelledby': `v-${e.version}` },
          h('h2', { id: `v-${e.version}` }, `Version ${e.version}`, e.version === latest ? [' ', h('span', { class: 'badge in_sync' }, 'current')] : null),
          h('p', { class: 'meta' }, `${when(e.updated_at)} · by ${e.created_by ?? 'unknown'}`),
          h('p', {}, e.comment ? `“${e.comment}”` : h('span', { class: 'hint' }, 'No comment')),
          h('p', { class: 'mono' }, e.url, e.timeout_ms === undefined ? '' : ` · ${e.timeout_ms} ms`),
          diff(e, entries[i + 1], nextBefore !== null),
          e.version === latest ? null : h('button', { type: 'button', onclick: () => void rollback(e) }, `Roll back to version ${e.version}`),
        ),
      ),
    ),
  )
  more.hidden = nextBefore === null
}

async function page(before: number | null) {
  const res = await api(`/config/versions?limit=50${before === null ? '' : `&before=${before}`}`)
  return res.body as { versions: Entry[]; next_before: number | null }
}

export const historyPage: Page = {
  mount(root) {
    more.addEventListener('click', async () => {
      if (nextBefore === null) return
      const p = await page(nextBefore)
      entries = entries.concat(p.versions)
      nextBefore = p.next_before
      render()
    })
    fill(root, h('h1', { id: 'history-title', tabindex: -1 }, 'History'), status, list, more)
  },
  async refresh() {
    try {
      const p = await page(null)
      entries = p.versions
      nextBefore = p.next_before
      render()
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) fill(list, h('li', { class: 'error' }, `Could not read the history: ${describe(e)}`))
    }
  },
}
