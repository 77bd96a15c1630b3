// List, create, edit and delete for the RPS configurations (profiles, CIRA configs, domains,
// wireless), driven by a description of each entity. Lists page with $top/$skip/$count=true; forms
// POST (create) or PATCH the whole object with its `version` (so If-Match goes with it). The API
// validates: its messages (errors[].msg by path, or message) are shown next to the fields they name.

import { h, fill, toast, table, confirmDialog, uid } from '../dom.js'
import { get, post, patch, del, messageOf } from '../api.js'
import { navigate } from '../router.js'

const SIZES = [10, 25, 50]

export function listPage (entity) {
  return async function page (ctx) {
    const size = SIZES.includes(Number(ctx.query.get('size'))) ? Number(ctx.query.get('size')) : 25
    const pageNo = Math.max(1, Number.parseInt(ctx.query.get('page') ?? '1', 10) || 1)
    const holder = h('div', { id: `${entity.name}-list` })
    const pager = h('div', { class: 'pager' })
    const go = (changes) => navigate(`${entity.path}?${new URLSearchParams({ page: String(pageNo), size: String(size), ...changes })}`)

    const load = async () => {
      const body = await get(`${entity.api}?$top=${size}&$skip=${(pageNo - 1) * size}&$count=true`, { signal: ctx.signal })
      const rows = body?.data ?? (Array.isArray(body) ? body : [])
      const total = body?.totalCount ?? rows.length
      const columns = [
        ...entity.columns,
        {
          label: 'Actions',
          class: 'nowrap',
          cell: (row) => {
            const key = row[entity.key]
            return [
              h('a', { class: 'button', href: `${entity.path}/${encodeURIComponent(key)}`, 'aria-label': `Edit ${key}` }, 'Edit'), ' ',
              h('button', {
                class: 'danger',
                'aria-label': `Delete ${key}`,
                on: {
                  click: async () => {
                    if (!await confirmDialog(`Delete ${entity.singular}?`, `Delete the ${entity.singular} “${key}”? This cannot be undone.`)) return
                    try {
                      await del(`${entity.api}/${encodeURIComponent(key)}`)
                      toast(`Deleted ${entity.singular} ${key}.`)
                      load()
                    } catch (error) {
                      if (!error.handled) toast(`Could not delete ${key}: ${error.message}`, { error: true })
                    }
                  }
                }
              }, 'Delete')
            ]
          }
        }
      ]
      fill(holder, table(columns, rows, { empty: `No ${entity.title.toLowerCase()} yet.`, caption: entity.title }))
      const first = total === 0 ? 0 : (pageNo - 1) * size + 1
      fill(pager,
        h('span', {}, `${first}–${Math.min(total, (pageNo - 1) * size + rows.length)} of ${total}`),
        h('button', { disabled: pageNo <= 1, on: { click: () => go({ page: String(pageNo - 1) }) } }, 'Previous'),
        h('button', { disabled: pageNo * size >= total, on: { click: () => go({ page: String(pageNo + 1) }) } }, 'Next'))
    }
    await load()
    return h('div', {},
      h('h1', {}, entity.title),
      entity.intro ? h('p', { class: 'muted' }, entity.intro) : null,
      h('div', { class: 'actions' }, h('a', { class: 'button primary', href: `${entity.path}/new` }, `New ${entity.singular}`)),
      holder,
      pager)
  }
}

export function formPage (entity) {
  return async function page (ctx) {
    const isNew = ctx.params.name === undefined
    const original = isNew ? null : await get(`${entity.api}/${encodeURIComponent(ctx.params.name)}`, { signal: ctx.signal })
    const options = entity.options ? await entity.options(ctx) : {}
    const fields = entity.fields(options, original)
    const values = { ...(entity.defaults ?? {}), ...(original ?? {}) }
    const controls = new Map()

    const formAlert = h('div', { class: 'alert error', role: 'alert', hidden: true, tabindex: '-1' })
    const read = () => {
      for (const f of fields) {
        const control = controls.get(f.name)
        if (control) values[f.name] = control.read()
      }
      return values
    }
    const updateVisibility = () => {
      read()
      for (const f of fields) {
        const control = controls.get(f.name)
        if (control && f.showIf) control.wrapper.hidden = !f.showIf(values, isNew)
      }
    }
    const clearErrors = () => {
      formAlert.hidden = true
      for (const control of controls.values()) control.setErrors([])
    }

    const sections = []
    let currentGroup = null
    for (const f of fields) {
      const control = makeControl(f, values[f.name], { readonly: !isNew && f.name === entity.key, isNew, onChange: updateVisibility })
      controls.set(f.name, control)
      if (f.group) {
        if (!currentGroup || currentGroup.name !== f.group) {
          currentGroup = { name: f.group, el: h('fieldset', {}, h('legend', {}, f.group)) }
          sections.push(currentGroup.el)
        }
        currentGroup.el.append(control.wrapper)
      } else {
        currentGroup = null
        sections.push(control.wrapper)
      }
    }

    const submit = h('button', { class: 'primary', type: 'submit' }, isNew ? `Create ${entity.singular}` : 'Save')
    const form = h('form', {
      class: 'entity',
      novalidate: true,
      'aria-labelledby': 'form-title',
      on: {
        submit: async (event) => {
          event.preventDefault()
          clearErrors()
          submit.disabled = true
          const body = entity.toBody(read(), original, isNew)
          try {
            await (isNew ? post(entity.api, body) : patch(entity.api, body))
            toast(`${isNew ? 'Created' : 'Saved'} ${entity.singular} ${body[entity.key]}.`)
            navigate(entity.path)
          } catch (error) {
            if (error.handled) return
            showErrors(error)
          } finally {
            submit.disabled = false
          }
        }
      }
    },
    formAlert,
    sections,
    h('div', { class: 'actions' }, submit, h('a', { class: 'button', href: entity.path }, 'Cancel')))

    // The API's validation errors: each next to its field; the rest (and {error, message}) on top.
    const showErrors = (error) => {
      const byField = new Map()
      const loose = []
      for (const e of Array.isArray(error.body?.errors) ? error.body.errors : []) {
        const name = entity.fieldFor?.(e.path) ?? e.path
        if (controls.has(name) && !controls.get(name).wrapper.hidden) {
          if (!byField.has(name)) byField.set(name, [])
          byField.get(name).push(e.msg)
        } else {
          loose.push(e.path ? `${e.path}: ${e.msg}` : e.msg)
        }
      }
      for (const [name, messages] of byField) controls.get(name).setErrors(messages)
      if (loose.length || byField.size === 0) {
        fill(formAlert, loose.length ? (loose.length === 1 ? loose[0] : h('ul', {}, loose.map((m) => h('li', {}, m)))) : messageOf(error.status, error.body))
        formAlert.hidden = false
      }
      const firstInvalid = [...controls.values()].find((c) => c.invalid)
      if (firstInvalid) firstInvalid.focus()
      else formAlert.focus()
    }

    updateVisibility()
    return h('div', {},
      h('h1', { id: 'form-title' }, isNew ? `New ${entity.singular}` : `Edit ${entity.singular} ${ctx.params.name}`),
      form)
  }
}

/** One field: its wrapper (label, control, hint, error slot) and how to read it and show errors. */
function makeControl (f, value, { readonly, isNew, onChange }) {
  const id = `f-${f.name}`
  const errorId = `${id}-error`
  const hintId = f.hint ? `${id}-hint` : null
  const errorSlot = h('div', { id: errorId, class: 'error-slot' })
  const describedBy = [hintId, errorId].filter(Boolean).join(' ')
  const hint = f.hint ? h('span', { class: 'hint', id: hintId }, f.hint) : null
  let input
  let read
  let wrapper

  const events = f.type === 'checkbox' || f.type === 'select' ? { change: onChange } : { change: onChange, input: onChange }
  const common = { id, name: f.name, 'aria-describedby': describedBy, 'aria-required': f.required ? 'true' : null, on: events }
  switch (f.type) {
    case 'checkbox':
      input = h('input', { ...common, type: 'checkbox', checked: value ?? f.default ?? false })
      read = () => input.checked
      wrapper = h('div', { class: 'field check' }, input, h('label', { for: id }, f.label), hint, errorSlot)
      break
    case 'select':
      input = h('select', { ...common, disabled: readonly },
        f.options.map(([v, label]) => h('option', { value: String(v), selected: String(value ?? f.default ?? '') === String(v) }, label)))
      read = () => input.value
      break
    case 'textarea':
      input = h('textarea', { ...common, value: value ?? f.default ?? '' })
      read = () => input.value
      break
    case 'checks': {
      // Links are objects in the API ({profileName, priority}); the boxes hold their names.
      const selected = (value ?? f.default ?? []).map((x) => String(x?.profileName ?? x?.name ?? x))
      const boxes = f.options.map(([v, label]) => h('input', { type: 'checkbox', value: String(v), checked: selected.includes(String(v)), on: { change: onChange } }))
      input = h('div', { class: 'checks', id, role: 'group', 'aria-labelledby': `${id}-legend`, 'aria-describedby': describedBy },
        f.options.length ? boxes.map((box, i) => h('label', {}, box, f.options[i][1])) : h('span', { class: 'muted' }, f.empty ?? 'None available.'))
      read = () => boxes.filter((b) => b.checked).map((b) => b.value)
      wrapper = h('div', { class: 'field' }, h('span', { class: 'label', id: `${id}-legend` }, f.label), input, hint, errorSlot)
      input.focus = () => boxes[0]?.focus()
      break
    }
    case 'file': {
      let encoded = ''
      const name = h('span', { class: 'hint' })
      input = h('input', {
        ...common,
        type: 'file',
        accept: f.accept,
        on: {
          change: async () => {
            const file = input.files?.[0]
            encoded = file ? await readBase64(file) : ''
            name.textContent = file ? `${file.name} (${file.size} bytes)` : ''
            onChange()
          }
        }
      })
      read = () => encoded
      wrapper = h('div', { class: 'field' }, h('label', { for: id }, f.label), input, name, hint, errorSlot)
      break
    }
    case 'tags':
      input = h('input', { ...common, type: 'text', value: (value ?? []).join(', ') })
      read = () => input.value.split(',').map((t) => t.trim()).filter(Boolean)
      break
    default: { // text, password, number
      const initial = f.type === 'password' ? '' : value ?? f.default ?? ''
      input = h('input', {
        ...common,
        type: f.type ?? 'text',
        value: initial,
        readonly,
        autocomplete: f.type === 'password' ? 'new-password' : 'off',
        placeholder: f.type === 'password' && !isNew ? '(unchanged)' : f.placeholder
      })
      read = () => {
        if (f.type !== 'number') return input.value
        const n = Number(input.value)
        return input.value.trim() === '' ? undefined : Number.isNaN(n) ? input.value : n
      }
    }
  }
  if (f.action) {
    const button = h('button', { type: 'button', on: { click: () => f.action.run(input, onChange) } }, f.action.label)
    wrapper = wrapper ?? h('div', { class: 'field' }, h('label', { for: id }, f.label), input, h('div', { class: 'actions' }, button), hint, errorSlot)
  }
  wrapper = wrapper ?? h('div', { class: 'field' }, h('label', { for: id }, f.label), input, hint, errorSlot)
  wrapper.dataset.field = f.name

  const control = {
    wrapper,
    read,
    invalid: false,
    focus: () => input.focus(),
    setErrors (messages) {
      control.invalid = messages.length > 0
      if (control.invalid) input.setAttribute('aria-invalid', 'true')
      else input.removeAttribute('aria-invalid')
      fill(errorSlot, messages.map((m) => h('p', { class: 'error', id: uid('err') }, m)))
    }
  }
  return control
}

function readBase64 (file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''))
    reader.onerror = () => reject(reader.error)
    reader.readAsDataURL(file)
  })
}

/** Names (and labels) of another entity's records, for selects; empty when it cannot be read. */
export async function namesOf (url, key, signal, filter = () => true) {
  try {
    const body = await get(`${url}?$count=true&$top=500&$skip=0`, { signal })
    return (body?.data ?? (Array.isArray(body) ? body : [])).filter(filter).map((r) => r[key])
  } catch (error) {
    if (error.name === 'AbortError') throw error
    return []
  }
}
