// The dashboard: device counts from GET /devices/stats at load, then moved by the live events (a
// device connecting is counted at once, without a reload or a poll), a feed of the latest events,
// activation progress and the services' status. Each burst of events is also reconciled with one
// stats read, so the counts cannot drift.

import { h, fill, shortTime } from '../dom.js'
import { get } from '../api.js'
import { mps } from '../config.js'
import { live, describe, phaseText, stateText } from '../live.js'

const KIND_BADGE = {
  connected: 'ok',
  disconnected: 'bad',
  activation: 'warn',
  deactivated: 'bad',
  presence: '',
  status: ''
}

export default async function dashboardPage (ctx) {
  const stats = await get(mps('/api/v1/devices/stats'), { signal: ctx.signal })
  const counts = {
    total: stats?.totalCount ?? 0,
    connected: stats?.connectedCount ?? 0,
    disconnected: stats?.disconnectedCount ?? 0
  }

  const tile = (key, label, sub, tone) => {
    const value = h('span', { class: 'value', id: `count-${key}` }, String(counts[key]))
    return { value, el: h('div', { class: `tile ${tone}`, role: 'group', 'aria-labelledby': `label-${key}` }, h('div', { class: 'label', id: `label-${key}` }, label), value, h('div', { class: 'sub' }, sub)) }
  }
  const tiles = {
    total: tile('total', 'Activated devices', 'registered with MPS', ''),
    connected: tile('connected', 'Connected', 'CIRA tunnel up', 'ok'),
    disconnected: tile('disconnected', 'Disconnected', 'no tunnel', 'bad')
  }
  const activating = h('span', { class: 'value', id: 'count-activating' }, '0')
  const activatingTile = h('div', { class: 'tile', role: 'group', 'aria-labelledby': 'label-activating' },
    h('div', { class: 'label', id: 'label-activating' }, 'Activating now'), activating, h('div', { class: 'sub' }, 'activations in progress'))

  const countsRegion = h('section', { class: 'tiles', 'aria-label': 'Device counts', 'aria-live': 'polite' },
    tiles.total.el, tiles.connected.el, tiles.disconnected.el, activatingTile)

  const showCounts = () => {
    for (const key of Object.keys(tiles)) tiles[key].value.textContent = String(counts[key])
    activating.textContent = String([...live.activations.values()].filter((a) => a.data?.phase === 'ACTIVATION_PHASE_STARTED').length)
  }

  let reconcileTimer = null
  const reconcile = () => {
    clearTimeout(reconcileTimer)
    reconcileTimer = setTimeout(async () => {
      try {
        const fresh = await get(mps('/api/v1/devices/stats'), { signal: ctx.signal })
        counts.total = fresh?.totalCount ?? counts.total
        counts.connected = fresh?.connectedCount ?? counts.connected
        counts.disconnected = fresh?.disconnectedCount ?? counts.disconnected
        showCounts()
      } catch { /* the next event tries again */ }
    }, 1500)
  }
  ctx.cleanup(() => clearTimeout(reconcileTimer))

  // Moves the counts for one event, from what the stream knew about the device before it.
  const move = (event) => {
    // A retained message replayed at subscription is state we may not have counted yet, not a change.
    if (event.retained) return reconcile()
    const before = event.previousConnected
    if (event.kind === 'connected' || (event.kind === 'presence' && event.data?.connected)) {
      if (before === true) return
      counts.connected += 1
      if (before === false) counts.disconnected = Math.max(0, counts.disconnected - 1)
      else counts.total += 1 // not seen before: a newly registered device
      reconcile()
    } else if (event.kind === 'disconnected' || (event.kind === 'presence' && event.data && !event.data.connected && !event.cleared)) {
      if (before === false) return
      if (before === true) {
        counts.connected = Math.max(0, counts.connected - 1)
        counts.disconnected += 1
      }
      reconcile()
    } else if (event.kind === 'deactivated' || (event.kind === 'activation' && event.data?.phase === 'ACTIVATION_PHASE_SUCCEEDED')) {
      reconcile()
    }
  }

  const feedList = h('ol', { class: 'feed', id: 'event-feed', 'aria-label': 'Latest events' })
  const feedItem = (event) => h('li', { dataset: { kind: event.kind } },
    h('time', { datetime: event.time ?? '' }, shortTime(event.time)),
    h('span', {}, h('span', { class: `badge ${KIND_BADGE[event.kind] ?? ''}` }, event.kind)),
    h('span', { class: 'detail' },
      event.guid ? [h('a', { href: `/devices/${event.guid}`, class: 'mono' }, event.guid), ' '] : null,
      describe(event)))
  // Presence is state (the counts use it), not news: the feed shows what happened.
  const showFeed = () => {
    const items = live.feed.filter((e) => e.kind !== 'presence').map(feedItem)
    fill(feedList, items.length ? items : h('li', { class: 'muted empty-feed' }, 'No events yet. Devices that connect, disconnect or activate appear here as it happens.'))
  }

  const servicesList = h('ul', { class: 'feed compact', id: 'services' })
  const showServices = () => {
    const rows = [...live.services.values()].map((s) => {
      const online = s.data?.state === 'SERVICE_STATE_ONLINE'
      return h('li', {},
        h('span', { class: 'mono' }, s.service),
        h('span', {}, h('span', { class: `badge ${online ? 'ok' : 'bad'}` }, stateText(s.data?.state))),
        h('span', { class: 'detail' }, s.instance, s.data?.address ? ` (${s.data.address})` : '', s.data?.version ? ` v${s.data.version}` : ''))
    })
    fill(servicesList, rows.length ? rows : h('li', { class: 'muted' }, 'No service has reported its status.'))
  }

  const activationList = h('ul', { class: 'feed compact', id: 'dashboard-activations' })
  const showActivations = () => {
    const rows = [...live.activations.values()].reverse().slice(0, 10).map((a) => h('li', {},
      h('time', { datetime: a.time ?? '' }, shortTime(a.time)),
      h('span', {}, h('span', { class: `badge ${badgeForPhase(a.data?.phase)}` }, phaseText(a.data?.phase))),
      h('span', { class: 'detail' }, h('a', { href: `/devices/${a.guid}`, title: a.guid }, a.data?.hostname || a.guid), a.data?.profile ? ` · ${a.data.profile}` : '', a.data?.reason ? ` · ${a.data.reason}` : '')))
    fill(activationList, rows.length ? rows : h('li', { class: 'muted' }, 'No activations seen yet.'))
  }

  showCounts()
  showFeed()
  showServices()
  showActivations()

  ctx.cleanup(live.on((type, event) => {
    if (type === 'event') {
      move(event)
      showCounts()
      if (!event.retained && event.kind !== 'presence') showFeed()
      if (event.kind === 'status') showServices()
      if (event.kind === 'activation') showActivations()
    } else if (type === 'snapshot' || type === 'resync') {
      reconcile()
      showCounts()
      showServices()
      showActivations()
    }
  }))

  return h('div', {},
    h('h1', {}, 'Dashboard'),
    countsRegion,
    h('div', { class: 'panels' },
      h('section', { class: 'panel', 'aria-labelledby': 'feed-title' }, h('h2', { id: 'feed-title' }, 'Live events'), feedList),
      h('div', {},
        h('section', { class: 'panel', 'aria-labelledby': 'act-title' }, h('h2', { id: 'act-title' }, 'Activations'), activationList,
          h('p', {}, h('a', { href: '/activations' }, 'All activations'))),
        h('section', { class: 'panel', 'aria-labelledby': 'svc-title' }, h('h2', { id: 'svc-title' }, 'Services'), servicesList))))
}

export function badgeForPhase (phase) {
  return { ACTIVATION_PHASE_SUCCEEDED: 'ok', ACTIVATION_PHASE_FAILED: 'bad', ACTIVATION_PHASE_STARTED: 'warn' }[phase] ?? ''
}
