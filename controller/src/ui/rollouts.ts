/** Rollouts: start one (steps, bake, gate), watch the current one against its gate, steer it, and
 *  read its decisions; recent rollouts below with how they ended. */
import { api, ApiError, describe } from './api'
import { confirmDialog, fill, h, when } from './dom'
import { clearErrors, field, setError, showRefusal, type Field } from './form'
import type { Page } from './main'

type Figures = { agents: number; applied?: number; hits: number; errors: number; error_rate: number | null; p99_ms: number | null }
type Rollout = {
  id: string
  version: number
  stable_version: number
  state: 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted'
  step: number
  steps: { percent: number; bake_seconds: number; cohort: number; started_at: string | null }[]
  selector: Record<string, string> | null
  gate: { max_error_rate: number; min_hits: number; max_p99_ms?: number | null }
  config: { url: string; timeout_ms?: number }
  comment: string | null
  eligible: number
  cohort: Figures
  stable: Figures
  reason: string | null
  rollback_version: number | null
  created_by: string | null
  created_at: string
  updated_at: string
  decisions: { at: string; action: string; step: number | null; detail: unknown }[]
}

const currentBox = h('div', { class: 'card', 'aria-live': 'polite' })
const actionStatus = h('p', { role: 'status' })
const recentBody = h('tbody')

const f = {
  url: field('Candidate URL', h('input', { type: 'url', required: true, autocomplete: 'off', spellcheck: 'false' })),
  timeout: field('Timeout (ms)', h('input', { type: 'number', min: 1, max: 60000, inputmode: 'numeric' }), 'empty for the worker’s default'),
  steps: field('Steps', h('input', { type: 'text', value: '10:30,50:60,100:0', autocomplete: 'off', spellcheck: 'false' }), 'percent:bake seconds, comma-separated, percents increasing'),
  maxErrorRate: field('Max error rate', h('input', { type: 'number', min: 0, max: 1, step: 'any', value: '0.02', inputmode: 'decimal' }), '0 to 1: the cohort’s 5xx share that rolls back'),
  minHits: field('Min hits', h('input', { type: 'number', min: 0, step: 1, value: '200', inputmode: 'numeric' }), 'fewer hits than this never roll back'),
  maxP99: field('Max p99 (ms)', h('input', { type: 'number', min: 1, step: 1, inputmode: 'numeric' }), 'optional'),
  selector: field('Selector', h('input', { type: 'text', placeholder: 'zone=eu-1,tier=web', autocomplete: 'off', spellcheck: 'false' }), 'optional: labels every agent taking part must have'),
  comment: field('Comment', h('input', { type: 'text', maxlength: 500, autocomplete: 'off' })),
}
const formError = h('p', { class: 'error', role: 'alert' })
const startButton = h('button', { type: 'submit' }, 'Start rollout')

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)} %`)

function figuresRow(name: string, c: Figures, gate: Rollout['gate']) {
  const overRate = c.error_rate !== null && c.hits >= gate.min_hits && c.error_rate > gate.max_error_rate
  const overP99 = gate.max_p99_ms != null && c.p99_ms !== null && c.hits >= gate.min_hits && c.p99_ms > gate.max_p99_ms
  return h(
    'tr',
    {},
    h('th', { scope: 'row' }, name),
    h('td', {}, c.applied === undefined ? `${c.agents}` : `${c.applied} applied of ${c.agents}`),
    h('td', {}, c.hits),
    h('td', {}, c.errors),
    h('td', { class: overRate ? 'bad' : '' }, pct(c.error_rate), overRate ? ' (over the gate)' : ''),
    h('td', { class: overP99 ? 'bad' : '' }, c.p99_ms === null ? '—' : `${c.p99_ms} ms`, overP99 ? ' (over the gate)' : ''),
  )
}

function detailText(d: unknown) {
  if (d === null || d === undefined) return ''
  if (typeof d === 'string') return d
  return Object.entries(d as Record<string, unknown>)
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ')
}

async function act(r: Rollout, action: 'pause' | 'resume' | 'abort' | 'promote') {
  if (action === 'abort' && !(await confirmDialog(`Abort rollout ${r.id}?`, `Every agent goes back to version ${r.stable_version}’s content, written as a new version.`, 'Abort rollout'))) return
  if (action === 'promote' && !(await confirmDialog(`Promote rollout ${r.id}?`, `Version ${r.version} becomes the config for every agent now, skipping the remaining steps.`, 'Promote'))) return
  actionStatus.textContent = ''
  try {
    const res = await api(`/rollouts/${encodeURIComponent(r.id)}/${action}`, { method: 'POST' })
    actionStatus.textContent = `Rollout ${r.id} is ${res.body.state}.`
  } catch (e) {
    actionStatus.textContent = `Could not ${action}: ${describe(e)}`
  }
  await rolloutsPage.refresh()
}

function renderCurrent(r: Rollout | null) {
  if (!r) return fill(currentBox, h('h2', {}, 'Current rollout'), h('p', {}, 'No rollout is running.'))
  const g = r.gate
  fill(
    currentBox,
    h('h2', {}, `Current rollout ${r.id}`),
    h('p', {}, h('span', { class: `badge ${r.state}` }, r.state), ` step ${r.step + 1} of ${r.steps.length} · version ${r.version} (stable ${r.stable_version}) · ${r.config.url}`),
    h('p', { class: 'meta' }, `Started ${when(r.created_at)} by ${r.created_by ?? 'unknown'}${r.selector ? ` · selector ${Object.entries(r.selector).map(([k, v]) => `${k}=${v}`).join(',')}` : ''} · ${r.eligible} agents take part`),
    h('p', {}, `Gate: error rate at most ${pct(g.max_error_rate)}${g.max_p99_ms != null ? `, p99 at most ${g.max_p99_ms} ms` : ''}, judged from ${g.min_hits} hits`),
    h(
      'table',
      { class: 'rows' },
      h('caption', {}, 'Steps'),
      h('thead', {}, h('tr', {}, ['Step', 'Percent', 'Cohort', 'Bake', 'Started'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, r.steps.map((s, i) => h('tr', { class: i === r.step ? 'now' : '', 'aria-current': i === r.step ? 'step' : null }, h('th', { scope: 'row' }, i + 1), h('td', {}, `${s.percent} %`), h('td', {}, s.cohort), h('td', {}, `${s.bake_seconds} s`), h('td', {}, when(s.started_at))))),
    ),
    h(
      'table',
      { class: 'rows' },
      h('caption', {}, 'Health'),
      h('thead', {}, h('tr', {}, ['', 'Agents', 'Hits', 'Errors', 'Error rate', 'p99'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, figuresRow('Cohort', r.cohort, g), figuresRow('Stable', r.stable, g)),
    ),
    h(
      'div',
      { class: 'actions' },
      r.state === 'running' ? h('button', { type: 'button', onclick: () => void act(r, 'pause') }, 'Pause') : null,
      r.state === 'paused' ? h('button', { type: 'button', onclick: () => void act(r, 'resume') }, 'Resume') : null,
      h('button', { type: 'button', onclick: () => void act(r, 'promote') }, 'Promote'),
      h('button', { type: 'button', class: 'danger', onclick: () => void act(r, 'abort') }, 'Abort'),
    ),
    decisions(r),
  )
}

const decisions = (r: Rollout) =>
  h('div', {}, h('h3', {}, 'Decisions'), h('ol', { class: 'decisions' }, r.decisions.map((d) => h('li', {}, h('time', { datetime: d.at }, when(d.at)), ` ${d.action}`, d.step === null ? '' : ` (step ${d.step + 1})`, d.detail ? ` — ${detailText(d.detail)}` : ''))))

function renderRecent(rs: Rollout[]) {
  fill(
    recentBody,
    rs.map((r) =>
      h('tr', {}, h('th', { scope: 'row' }, r.id), h('td', {}, h('span', { class: `badge ${r.state}` }, r.state)), h('td', {}, r.version), h('td', { class: 'mono' }, r.config.url), h('td', {}, r.reason ?? '—'), h('td', {}, r.rollback_version ?? '—'), h('td', {}, when(r.updated_at))),
    ),
  )
  if (!rs.length) recentBody.append(h('tr', {}, h('td', { colspan: 7 }, 'No rollout yet.')))
}

function parseSteps(s: string) {
  const parts = s.split(',').map((p) => p.trim()).filter(Boolean)
  if (!parts.length || parts.length > 10) return null
  const steps = []
  for (const p of parts) {
    const m = /^(\d{1,3})\s*:\s*(\d{1,5})$/.exec(p)
    if (!m) return null
    steps.push({ percent: Number(m[1]), bake_seconds: Number(m[2]) })
  }
  return steps
}

async function start(e: Event) {
  e.preventDefault()
  const all = Object.values(f)
  clearErrors(all, formError)
  const url = f.url.input.value.trim()
  if (!url) return setError(f.url, 'Enter the candidate URL.')
  const steps = parseSteps(f.steps.input.value)
  if (!steps) return setError(f.steps, 'Write steps as percent:bake seconds, e.g. 10:30,50:60,100:0 (1 to 10 steps).')
  const num = (fl: Field, what: string, ok: (n: number) => boolean) => {
    const v = fl.input.value.trim()
    if (!v) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || !ok(n)) {
      setError(fl, what)
      return null
    }
    return n
  }
  const maxErr = num(f.maxErrorRate, 'A number from 0 to 1.', (n) => n >= 0 && n <= 1)
  const minHits = num(f.minHits, 'A whole number, 0 or more.', (n) => Number.isInteger(n) && n >= 0)
  const p99 = num(f.maxP99, 'A whole number of milliseconds.', (n) => Number.isInteger(n) && n > 0)
  const timeout = num(f.timeout, 'A whole number of milliseconds, 1 to 60000.', (n) => Number.isInteger(n) && n >= 1 && n <= 60000)
  if (maxErr === null || minHits === null || p99 === null || timeout === null) return
  if (maxErr === undefined) return setError(f.maxErrorRate, 'Enter the highest error rate the cohort may have.')
  if (minHits === undefined) return setError(f.minHits, 'Enter how many hits the gate needs.')
  let selector: Record<string, string> | undefined
  const sel = f.selector.input.value.trim()
  if (sel) {
    selector = {}
    for (const p of sel.split(',').map((x) => x.trim()).filter(Boolean)) {
      const i = p.indexOf('=')
      if (i < 1) return setError(f.selector, 'Write labels as name=value, comma-separated.')
      selector[p.slice(0, i)] = p.slice(i + 1)
    }
  }
  const body = {
    config: timeout === undefined ? { url } : { url, timeout_ms: timeout },
    steps,
    gate: p99 === undefined ? { max_error_rate: maxErr, min_hits: minHits } : { max_error_rate: maxErr, min_hits: minHits, max_p99_ms: p99 },
    ...(selector ? { selector } : {}),
    ...(f.comment.input.value.trim() ? { comment: f.comment.input.value.trim() } : {}),
  }
  startButton.disabled = true
  try {
    const res = await api('/rollouts', { method: 'POST', json: body })
    actionStatus.textContent = `Rollout ${res.body.id} started: version ${res.body.version}.`
    await rolloutsPage.refresh()
  } catch (err) {
    const byPath = (p: string) => {
      const head = p.split('.')[0]
      if (p === 'config.url') return f.url
      if (p === 'config.timeout_ms') return f.timeout
      if (head === 'steps') return f.steps
      if (p === 'gate.max_error_rate') return f.maxErrorRate
      if (p === 'gate.min_hits') return f.minHits
      if (p === 'gate.max_p99_ms') return f.maxP99
      if (head === 'selector') return f.selector
      if (head === 'comment') return f.comment
      return undefined
    }
    showRefusal(err, byPath, formError)
  } finally {
    startButton.disabled = false
  }
}

export const rolloutsPage: Page = {
  mount(root) {
    fill(
      root,
      h('h1', { id: 'rollouts-title', tabindex: -1 }, 'Rollouts'),
      actionStatus,
      h(
        'div',
        { class: 'grid' },
        currentBox,
        h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'rollout-start-title', onsubmit: start }, h('h2', { id: 'rollout-start-title' }, 'Start a rollout'), Object.values(f).map((x) => x.wrap), formError, h('div', { class: 'actions' }, startButton)),
      ),
      h('div', { class: 'scroll' }, h('table', { class: 'rows' }, h('caption', {}, 'Recent rollouts'), h('thead', {}, h('tr', {}, ['Rollout', 'State', 'Version', 'URL', 'Reason', 'Rolled back as', 'Updated'].map((c) => h('th', { scope: 'col' }, c)))), recentBody)),
    )
  },
  async refresh() {
    try {
      const cur = await api('/rollouts/current').catch((e) => {
        if (e instanceof ApiError && e.status === 404) return null
        throw e
      })
      renderCurrent(cur?.body ?? null)
      renderRecent((await api('/rollouts?limit=10')).body.rollouts)
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) fill(currentBox, h('p', { class: 'error' }, `Could not read the rollouts: ${describe(e)}`))
    }
  },
}
