// Small DOM helpers. Text always goes in as text nodes, never as HTML, so data from devices and
// APIs cannot inject markup.

/**
 * h('a', {href: '/x', class: 'button', on: {click: fn}}, 'text', child)
 * Attribute values of false/null/undefined are left off; true sets an empty attribute.
 */
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler)
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value)
    } else if (name === 'value' && 'value' in el) {
      el.value = value
    } else if (name === 'checked' || name === 'selected') {
      el[name] = Boolean(value)
    } else {
      el.setAttribute(name, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

export function append (el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return el
}

export function clear (el) {
  while (el.firstChild) el.firstChild.remove()
  return el
}

/** Replaces the children of `el`. */
export function fill (el, ...children) {
  return append(clear(el), children)
}

let idCounter = 0
export const uid = (prefix = 'id') => `${prefix}-${++idCounter}`

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast (message, { error = false, timeout = 5000 } = {}) {
  const region = document.getElementById('toasts')
  if (!region) return
  const el = h('div', { class: error ? 'toast error' : 'toast' }, message)
  region.append(el)
  // Three at most: a burst of actions should not cover the page.
  while (region.children.length > 3) region.firstElementChild.remove()
  setTimeout(() => el.remove(), timeout)
}

/** A modal message; resolves when closed. */
export function alertDialog (title, message) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', {}, message),
      h('div', { class: 'actions' }, h('button', { class: 'primary', value: 'ok', on: { click: () => dialog.close() } }, 'OK')))
    dialog.addEventListener('close', () => { dialog.remove(); resolve() })
    document.body.append(dialog)
    dialog.showModal()
  })
}

/** Asks yes/no; resolves true for the confirming button. */
export function confirmDialog (title, message, confirmLabel = 'Delete') {
  return new Promise((resolve) => {
    let answer = false
    const dialog = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', {}, message),
      h('div', { class: 'actions' },
        h('button', { class: 'danger', on: { click: () => { answer = true; dialog.close() } } }, confirmLabel),
        h('button', { on: { click: () => dialog.close() }, autofocus: true }, 'Cancel')))
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answer) })
    document.body.append(dialog)
    dialog.showModal()
  })
}

/** Asks for one value; resolves with it, or null when cancelled. */
export function promptDialog (title, message, label, { inputmode = 'text', pattern } = {}) {
  return new Promise((resolve) => {
    let answer = null
    const input = h('input', { id: 'dlg-input', type: 'text', inputmode, pattern, autocomplete: 'off', autofocus: true })
    const form = h('form', {
      method: 'dialog',
      on: { submit: () => { answer = input.value.trim() } }
    },
    h('h2', { id: 'dlg-title' }, title),
    h('p', { id: 'dlg-message' }, message),
    h('div', { class: 'field' }, h('label', { for: 'dlg-input' }, label), input),
    h('div', { class: 'actions' },
      h('button', { class: 'primary', type: 'submit' }, 'Send'),
      h('button', { type: 'button', on: { click: () => dialog.close() } }, 'Cancel')))
    const dialog = h('dialog', { 'aria-labelledby': 'dlg-title', 'aria-describedby': 'dlg-message' }, form)
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answer) })
    document.body.append(dialog)
    dialog.showModal()
  })
}

export function formatTime (value) {
  if (!value) return ''
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString()
}

export function shortTime (value) {
  const date = value ? new Date(value) : new Date()
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString()
}

/** A table from column specs [{label, cell: row => node|string}] and rows. */
export function table (columns, rows, { empty = 'Nothing here yet.', caption } = {}) {
  const body = rows.length === 0
    ? [h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, empty))]
    : rows.map((row) => h('tr', {}, columns.map((c) => h('td', { class: c.class }, c.cell(row)))))
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, body)))
}

/** A definition list from [label, value] pairs, skipping empty values. */
export function props (pairs) {
  const items = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
  if (items.length === 0) return h('p', { class: 'muted' }, 'No data.')
  return h('dl', { class: 'props' }, items.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))
}
