/** Labelled fields with an error line each, and 422 messages put under the field they name. */
import { ApiError, describe, fieldOf } from './api'
import { h } from './dom'

export type Field = { input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement; error: HTMLElement; wrap: HTMLElement }

let seq = 0
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): Field {
  const id = `f${++seq}`
  input.id = id
  const error = h('p', { class: 'error', id: `${id}-error` })
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null
  input.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '))
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl, error)
  return { input, error, wrap }
}

export function clearErrors(fields: Field[], formError?: HTMLElement) {
  for (const f of fields) {
    f.error.textContent = ''
    f.input.removeAttribute('aria-invalid')
  }
  if (formError) formError.textContent = ''
}

export function setError(f: Field, message: string) {
  f.error.textContent = message
  f.input.setAttribute('aria-invalid', 'true')
}

/** Put an API refusal under the field its message names (by the API's field path), else on the form. */
export function showRefusal(e: unknown, byPath: (path: string) => Field | undefined, formError: HTMLElement) {
  if (e instanceof ApiError && (e.status === 422 || e.status === 400)) {
    const path = fieldOf(e)
    const f = path ? byPath(path) : undefined
    if (f) {
      setError(f, e.message.replace(/^body field "[^"]+": ?/, ''))
      f.input.focus()
      return
    }
  }
  formError.textContent = describe(e)
}
