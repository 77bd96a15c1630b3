// Devices: the MPS inventory with status, tag filter, search and paging, as the reference lists it
// (GET /devices?$top&$skip&$count=true, tags first when filtering; a power state read per connected
// row). Statuses change in place as events arrive; a device the page does not show yet brings a
// reload of the page, so new devices appear without the user asking.

import { h, fill, table } from '../dom.js'
import { get } from '../api.js'
import { mps } from '../config.js'
import { live } from '../live.js'
import { navigate } from '../router.js'
import { powerLabel, powerTone, GUID_PATTERN } from '../format.js'

const SIZES = [10, 25, 50, 100]

export default async function devicesPage (ctx) {
  const q = ctx.query
  const size = SIZES.includes(Number(q.get('size'))) ? Number(q.get('size')) : 25
  const page = Math.max(1, Number.parseInt(q.get('page') ?? '1', 10) || 1)
  const selectedTags = (q.get('tags') ?? '').split(',').filter(Boolean)
  const search = (q.get('q') ?? '').trim()

  const go = (changes) => {
    const next = new URLSearchParams({ page: String(page), size: String(size) })
    if (selectedTags.length) next.set('tags', selectedTags.join(','))
    if (search) next.set('q', search)
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k)
      else next.set(k, String(v))
    }
    navigate(`/devices?${next}`)
  }

  let allTags = []
  try {
    allTags = ((await get(mps('/api/v1/devices/tags'), { signal: ctx.signal })) ?? []).slice().sort()
  } catch (error) {
    if (error.name === 'AbortError') throw error
  }

  const load = async () => {
    if (search) return searchDevices(search, ctx.signal)
    const params = new URLSearchParams()
    if (selectedTags.length) params.set('tags', selectedTags.join(','))
    params.set('$top', String(size))
    params.set('$skip', String((page - 1) * size))
    params.set('$count', 'true')
    const body = await get(mps(`/api/v1/devices?${params.toString().replaceAll('%24', '$').replaceAll('%2C', ',')}`), { signal: ctx.signal })
    return { rows: body?.data ?? [], total: body?.totalCount ?? 0 }
  }

  let { rows, total } = await load()
  const power = new Map()
  const tableHolder = h('div', { id: 'devices-table' })
  const pager = h('div', { class: 'pager' })

  const statusOf = (row) => live.presence.get(row.guid)?.connected ?? row.connectionStatus
  const render = () => {
    const columns = [
      { label: 'Host name', cell: (r) => h('a', { href: `/devices/${r.guid}` }, r.hostname || r.friendlyName || r.guid) },
      { label: 'Friendly name', cell: (r) => r.friendlyName ?? '' },
      { label: 'GUID', class: 'mono', cell: (r) => r.guid },
      {
        label: 'Status',
        cell: (r) => statusOf(r)
          ? h('span', { class: 'badge ok', dataset: { status: 'connected' } }, 'Connected')
          : h('span', { class: 'badge bad', dataset: { status: 'disconnected' } }, 'Disconnected')
      },
      {
        label: 'Power',
        cell: (r) => {
          if (!statusOf(r)) return h('span', { class: 'muted' }, '—')
          const state = power.get(r.guid)
          return state === undefined ? h('span', { class: 'muted' }, '…') : h('span', { class: `badge ${powerTone(state)}` }, powerLabel(state))
        }
      },
      { label: 'Tags', cell: (r) => (r.tags ?? []).map((t) => h('span', { class: 'tag' }, t)) }
    ]
    fill(tableHolder, table(columns, rows, { empty: search ? `No device has the host name, friendly name or GUID “${search}”.` : 'No devices.', caption: 'Devices' }))
    const first = total === 0 ? 0 : (page - 1) * size + 1
    const last = Math.min(total, (page - 1) * size + rows.length)
    fill(pager, search
      ? h('span', {}, `${rows.length} exact match${rows.length === 1 ? '' : 'es'}`)
      : [
          h('span', { 'aria-live': 'polite' }, `${first}–${last} of ${total}`),
          h('button', { disabled: page <= 1, on: { click: () => go({ page: page - 1 }) } }, 'Previous'),
          h('button', { disabled: page * size >= total, on: { click: () => go({ page: page + 1 }) } }, 'Next'),
          h('label', {}, 'Per page ', h('select', { on: { change: (e) => go({ size: e.target.value, page: 1 }) } },
            SIZES.map((s) => h('option', { value: String(s), selected: s === size }, String(s)))))
        ])
  }

  const readPower = async (guid) => {
    try {
      const state = await get(mps(`/api/v1/amt/power/state/${guid}`), { signal: ctx.signal })
      power.set(guid, state?.powerstate)
    } catch (error) {
      if (error.name === 'AbortError') return
      power.set(guid, null)
    }
    render()
  }
  const readAllPower = async () => {
    const queue = rows.filter(statusOf).map((r) => r.guid)
    const workers = Array.from({ length: 4 }, async () => {
      while (queue.length && !ctx.signal.aborted) await readPower(queue.shift())
    })
    await Promise.all(workers)
  }

  let reloadTimer = null
  const reload = () => {
    clearTimeout(reloadTimer)
    reloadTimer = setTimeout(async () => {
      try {
        ({ rows, total } = await load())
        render()
        readAllPower()
      } catch { /* keep what is shown */ }
    }, 800)
  }
  ctx.cleanup(() => clearTimeout(reloadTimer))
  ctx.cleanup(live.on((type, event) => {
    if (type === 'snapshot') return render()
    if (type !== 'event' || !event.guid || !['connected', 'disconnected', 'presence', 'activation', 'deactivated'].includes(event.kind)) return
    const shown = rows.find((r) => r.guid === event.guid)
    if (shown && event.kind !== 'deactivated') {
      if (event.kind === 'connected') readPower(event.guid)
      else render()
    } else if (!search && (event.kind !== 'activation' || event.data?.phase === 'ACTIVATION_PHASE_SUCCEEDED')) {
      reload()
    }
  }))

  const searchInput = h('input', { id: 'device-search', type: 'search', value: search, placeholder: 'Host name, friendly name or GUID' })
  const searchForm = h('form', { class: 'grow', role: 'search', on: { submit: (e) => { e.preventDefault(); go({ q: searchInput.value.trim(), page: 1 }) } } },
    h('label', { for: 'device-search' }, 'Search'),
    h('div', { class: 'actions' }, searchInput, h('button', { type: 'submit' }, 'Search'),
      search ? h('button', { type: 'button', on: { click: () => go({ q: null, page: 1 }) } }, 'Clear') : null))

  const tagBoxes = allTags.map((t) => h('label', {}, h('input', { type: 'checkbox', value: t, checked: selectedTags.includes(t) }), t))
  const tagFilter = h('details', { class: 'tags-filter' },
    h('summary', { class: 'button' }, selectedTags.length ? `Tags: ${selectedTags.join(', ')}` : 'Filter by tags'),
    h('div', { class: 'menu' },
      allTags.length ? tagBoxes : h('p', { class: 'muted' }, 'No tags yet.'),
      h('div', { class: 'actions' },
        h('button', { class: 'primary', on: { click: () => go({ tags: tagBoxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value).join(','), page: 1 }) } }, 'Apply'),
        selectedTags.length ? h('button', { on: { click: () => go({ tags: null, page: 1 }) } }, 'Clear') : null)))

  render()
  readAllPower()
  return h('div', {},
    h('h1', {}, 'Devices'),
    h('div', { class: 'toolbar' }, searchForm, h('div', {}, tagFilter)),
    tableHolder,
    pager)
}

/** Exact matches: MPS filters host and friendly names exactly (no paging), and looks GUIDs up directly. */
async function searchDevices (text, signal) {
  const found = new Map()
  const add = (list) => { for (const d of list ?? []) if (d?.guid) found.set(d.guid, d) }
  const tries = [
    get(mps(`/api/v1/devices?hostname=${encodeURIComponent(text)}`), { signal }).then(add),
    get(mps(`/api/v1/devices?friendlyName=${encodeURIComponent(text)}`), { signal }).then(add)
  ]
  if (GUID_PATTERN.test(text)) {
    tries.push(get(mps(`/api/v1/devices/${text.toLowerCase()}`), { signal }).then((d) => d && add([d])))
  }
  const results = await Promise.allSettled(tries)
  const aborted = results.find((r) => r.status === 'rejected' && r.reason?.name === 'AbortError')
  if (aborted) throw aborted.reason
  const rows = [...found.values()]
  return { rows, total: rows.length }
}
