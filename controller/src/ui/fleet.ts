/** Fleet: summary counts, every agent with its status, filters; re-read on `fleet`/`config` events. */
import { api, ApiError, describe } from './api'
import { ago, fill, h, when } from './dom'
import { field } from './form'
import type { Page } from './main'

type Agent = {
  agent_id: string
  hostname: string | null
  labels: Record<string, string>
  worker_url: string | null
  registered_at: string
  last_seen_at: string | null
  fetched_version: number | null
  applied_version: number | null
  rejected: { version: number; reason: string } | null
  status: 'in_sync' | 'behind' | 'rejected' | 'stale'
}
const STATUSES = ['in_sync', 'behind', 'rejected', 'stale'] as const

const summary = h('ul', { class: 'summary', 'aria-label': 'Fleet summary' })
const status = field('Status', h('select', {}, h('option', { value: '' }, 'All'), STATUSES.map((s) => h('option', { value: s }, s))))
const label = field('Label', h('input', { type: 'text', placeholder: 'zone=eu-1', autocomplete: 'off', spellcheck: 'false' }), 'name=value')
const search = field('Search', h('input', { type: 'search', placeholder: 'id or hostname', autocomplete: 'off', spellcheck: 'false' }))
const count = h('p', { role: 'status', class: 'meta' })
const body = h('tbody')
const table = h(
  'table',
  { class: 'rows', 'aria-labelledby': 'fleet-table-caption' },
  h('caption', { id: 'fleet-table-caption' }, 'Agents'),
  h('thead', {}, h('tr', {}, ['Agent', 'Hostname', 'Status', 'Applied', 'Fetched', 'Last seen', 'Labels'].map((c) => h('th', { scope: 'col' }, c)))),
  body,
)
let agents: Agent[] = []
let sum: Record<string, number> = {}

function render() {
  fill(summary, STATUSES.map((s) => h('li', { class: `count ${s}` }, h('span', { class: 'n' }, sum[s] ?? 0), ' ', s)))
  const q = search.input.value.trim().toLowerCase()
  const lab = label.input.value.trim()
  const [ln, lv] = lab.includes('=') ? [lab.slice(0, lab.indexOf('=')), lab.slice(lab.indexOf('=') + 1)] : [lab, undefined]
  const shown = agents.filter(
    (a) =>
      (!status.input.value || a.status === status.input.value) &&
      (!ln || (lv === undefined ? ln in a.labels : a.labels[ln] === lv)) &&
      (!q || a.agent_id.toLowerCase().includes(q) || (a.hostname ?? '').toLowerCase().includes(q)),
  )
  count.textContent = `${shown.length} of ${agents.length} agents shown`
  fill(
    body,
    shown.map((a) =>
      h(
        'tr',
        { 'data-agent': a.agent_id },
        h('th', { scope: 'row', class: 'mono' }, a.agent_id),
        h('td', {}, a.hostname ?? '—'),
        h('td', {}, h('span', { class: `badge ${a.status}` }, a.status), a.rejected ? h('span', { class: 'reason' }, ` version ${a.rejected.version} refused: ${a.rejected.reason}`) : null),
        h('td', {}, a.applied_version ?? '—'),
        h('td', {}, a.fetched_version ?? '—'),
        h('td', { title: when(a.last_seen_at) }, ago(a.last_seen_at)),
        h('td', {}, Object.entries(a.labels).map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`))),
      ),
    ),
  )
  if (!shown.length) body.append(h('tr', {}, h('td', { colspan: 7 }, agents.length ? 'No agent matches these filters.' : 'No agent has registered yet.')))
}

export const fleetPage: Page = {
  mount(root) {
    for (const f of [status, label, search]) f.input.addEventListener('input', render)
    fill(
      root,
      h('h1', { id: 'fleet-title', tabindex: -1 }, 'Fleet'),
      summary,
      h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter agents', onsubmit: (e: Event) => e.preventDefault() }, status.wrap, label.wrap, search.wrap),
      count,
      h('div', { class: 'scroll' }, table),
    )
  },
  async refresh() {
    try {
      const res = await api('/agents')
      agents = res.body.agents
      sum = res.body.summary
      render()
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) count.textContent = `Could not read the fleet: ${describe(e)}`
    }
  },
}
