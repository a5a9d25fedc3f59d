/** Audit: the records newest first, filtered by actor and action (over the pages read so far). */
import { api, ApiError, describe } from './api'
import { fill, h, when } from './dom'
import { field } from './form'
import type { Page } from './main'

type Record_ = { id: string | number; at: string; actor: string; action: string; target: string | null; request_id: string | null; outcome: string }

const actor = field('Actor', h('select', {}, h('option', { value: '' }, 'All')))
const action = field('Action', h('select', {}, h('option', { value: '' }, 'All')))
const count = h('p', { role: 'status', class: 'meta' })
const body = h('tbody')
const more = h('button', { type: 'button', hidden: true }, 'Older records')
let records: Record_[] = []
let nextBefore: string | number | null = null

function options(sel: HTMLSelectElement, values: string[]) {
  const keep = sel.value
  fill(sel, h('option', { value: '' }, 'All'), values.map((v) => h('option', { value: v }, v)))
  sel.value = values.includes(keep) ? keep : ''
}

function render() {
  options(actor.input as HTMLSelectElement, [...new Set(records.map((r) => r.actor))].sort())
  options(action.input as HTMLSelectElement, [...new Set(records.map((r) => r.action))].sort())
  const shown = records.filter((r) => (!actor.input.value || r.actor === actor.input.value) && (!action.input.value || r.action === action.input.value))
  count.textContent = `${shown.length} of ${records.length} records shown`
  fill(
    body,
    shown.map((r) => h('tr', {}, h('td', {}, h('time', { datetime: r.at }, when(r.at))), h('td', {}, r.actor), h('td', { class: 'mono' }, r.action), h('td', { class: 'mono' }, r.target ?? '—'), h('td', {}, h('span', { class: `badge ${r.outcome}` }, r.outcome)), h('td', { class: 'mono small' }, r.request_id ?? '—'))),
  )
  if (!shown.length) body.append(h('tr', {}, h('td', { colspan: 6 }, 'No record matches.')))
  more.hidden = nextBefore === null
}

const read = async (before: string | number | null) => (await api(`/audit?limit=100${before === null ? '' : `&before=${encodeURIComponent(String(before))}`}`)).body as { records: Record_[]; next_before: string | number | null }

export const auditPage: Page = {
  mount(root) {
    for (const f of [actor, action]) f.input.addEventListener('change', render)
    more.addEventListener('click', async () => {
      if (nextBefore === null) return
      const p = await read(nextBefore)
      records = records.concat(p.records)
      nextBefore = p.next_before
      render()
    })
    fill(
      root,
      h('h1', { id: 'audit-title', tabindex: -1 }, 'Audit'),
      h('form', { class: 'filters', 'aria-label': 'Filter records', onsubmit: (e: Event) => e.preventDefault() }, actor.wrap, action.wrap),
      count,
      h('div', { class: 'scroll' }, h('table', { class: 'rows' }, h('caption', {}, 'Audit records'), h('thead', {}, h('tr', {}, ['At', 'Actor', 'Action', 'Target', 'Outcome', 'Request'].map((c) => h('th', { scope: 'col' }, c)))), body)),
      more,
    )
  },
  async refresh() {
    try {
      const p = await read(null)
      records = p.records
      nextBefore = p.next_before
      render()
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) count.textContent = `Could not read the audit trail: ${describe(e)}`
    }
  },
}
