/** A tiny element builder: `h('button', { type: 'button', onclick }, 'Save')`. Text children are
 *  always text nodes, never HTML, so nothing the API returns is parsed as markup. */
type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: any) => void)>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c)
  return el
}

export const $ = <T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector(sel) as T

/** Replace an element's children. */
export function fill(el: Element, ...children: (Child | Child[])[]) {
  el.replaceChildren(...(children.flat().filter((c) => c !== null && c !== undefined && c !== false) as (Node | string)[]).map((c) => (typeof c === 'number' ? String(c) : c)))
}

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—')

/** "3 s ago", "4 min ago": for last-seen columns. */
export function ago(iso: string | null | undefined, now = Date.now()) {
  if (!iso) return '—'
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

/** Ask before something that changes the fleet; resolves true on the confirming button. */
export function confirmDialog(title: string, text: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm' })
    const done = (ok: boolean) => {
      dlg.close()
      dlg.remove()
      resolve(ok)
    }
    dlg.append(
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, text),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: () => done(true) }, confirmLabel), h('button', { type: 'button', onclick: () => done(false) }, 'Cancel')),
    )
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault()
      done(false)
    })
    document.body.append(dlg)
    dlg.showModal()
  })
}
