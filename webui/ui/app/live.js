// The live event stream from the webui server (server-sent events fed by the broker): the fleet's
// presence, service status and activation progress, and a feed of the latest events. One stream
// for the whole app; pages subscribe to what they show.

import { streamUrl, sessionUrl } from './config.js'
import * as session from './session.js'
import { handlers } from './api.js'

const FEED_SIZE = 100
const SEEN_SIZE = 2000

class Live {
  constructor () {
    this.presence = new Map() // guid → {connected, mpsInstance, since}
    this.services = new Map() // "service/instance" → status event
    this.activations = new Map() // guid → latest activation event
    this.feed = [] // newest first
    this.state = 'closed' // connecting | open | error | closed
    this.listeners = new Set()
    this.seen = new Set()
    this.seenOrder = []
    this.source = null
    this.retryTimer = null
  }

  /** fn(type, payload): type is 'snapshot', 'event', 'state' or 'resync'. Returns an unsubscribe. */
  on (fn) {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  emit (type, payload) {
    for (const fn of [...this.listeners]) {
      try { fn(type, payload) } catch (error) { console.error(error) }
    }
  }

  setState (state) {
    if (this.state === state) return
    this.state = state
    this.emit('state', state)
  }

  start () {
    if (this.source) return
    const token = session.token()
    if (!token) return
    clearTimeout(this.retryTimer)
    this.setState('connecting')
    const url = `${streamUrl}?token=${encodeURIComponent(token)}`
    const source = new EventSource(url)
    this.source = source
    source.addEventListener('open', () => this.setState('open'))
    source.addEventListener('snapshot', (e) => this.onSnapshot(parse(e.data)))
    source.addEventListener('message', (e) => this.onEvent(parse(e.data)))
    source.addEventListener('resync', () => { this.stop(); this.start(); this.emit('resync') })
    source.addEventListener('expired', () => { this.stop(); this.checkSession() })
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (401/503) or gone: find out why, then try again later.
        this.stop()
        this.setState('error')
        this.checkSession()
      } else {
        this.setState('connecting') // the browser reconnects by itself
      }
    })
  }

  stop () {
    clearTimeout(this.retryTimer)
    if (this.source) {
      this.source.close()
      this.source = null
    }
    this.setState('closed')
  }

  /** The stream cannot say why it failed; the session endpoint answers with the gateway's 401 bodies. */
  async checkSession () {
    const token = session.token()
    if (!token) return
    try {
      const response = await fetch(sessionUrl, { headers: { Authorization: `Bearer ${token}` } })
      if (response.status === 401) {
        let body = null
        try { body = await response.json() } catch { body = null }
        handlers.unauthorized(body)
        return
      }
    } catch { /* unreachable: retry below */ }
    this.setState('error')
    this.retryTimer = setTimeout(() => this.start(), 3000)
  }

  onSnapshot (snapshot) {
    if (!snapshot) return
    this.presence = new Map(Object.entries(snapshot.presence ?? {}))
    this.services = new Map((snapshot.services ?? []).map((s) => [`${s.service}/${s.instance}`, s]))
    this.activations = new Map((snapshot.activations ?? []).slice().reverse().map((a) => [a.guid, a]))
    this.emit('snapshot', snapshot)
  }

  onEvent (event) {
    if (!event) return
    if (event.id) {
      if (this.seen.has(event.id)) return // the same event twice (a reconnect): apply once
      this.seen.add(event.id)
      this.seenOrder.push(event.id)
      if (this.seenOrder.length > SEEN_SIZE) this.seen.delete(this.seenOrder.shift())
    }
    const data = event.data ?? {}
    const previous = event.guid ? this.presence.get(event.guid) : undefined
    event.previousConnected = previous?.connected
    switch (event.kind) {
      case 'presence':
        if (event.cleared) this.presence.delete(event.guid)
        else this.presence.set(event.guid, { connected: !!data.connected, mpsInstance: data.mpsInstance, since: data.since })
        break
      case 'connected':
        this.presence.set(event.guid, { connected: true, mpsInstance: data.mpsInstance, since: data.connectedAt })
        break
      case 'disconnected':
        this.presence.set(event.guid, { connected: false, mpsInstance: '', since: data.disconnectedAt })
        break
      case 'activation':
        this.activations.delete(event.guid)
        this.activations.set(event.guid, event)
        break
      case 'status':
        if (event.cleared) this.services.delete(`${event.service}/${event.instance}`)
        else this.services.set(`${event.service}/${event.instance}`, event)
        break
    }
    // Retained presence and status replayed at connect time are state, not news.
    if (!event.retained) {
      this.feed.unshift(event)
      if (this.feed.length > FEED_SIZE) this.feed.length = FEED_SIZE
    }
    this.emit('event', event)
  }

  isConnected (guid) {
    return this.presence.get(guid)?.connected
  }
}

function parse (text) {
  try { return JSON.parse(text) } catch { return null }
}

export const live = new Live()

/** Human words for an event, for feeds and screen readers. */
export function describe (event) {
  const d = event.data ?? {}
  switch (event.kind) {
    case 'connected':
      return `connected to ${d.mpsInstance || 'MPS'}${d.hostname ? ` (${d.hostname})` : ''}`
    case 'disconnected':
      return `disconnected${d.reason ? `: ${reasonText(d.reason)}` : ''}${d.detail ? ` (${d.detail})` : ''}`
    case 'presence':
      return event.cleared ? 'presence cleared' : d.connected ? `present on ${d.mpsInstance || 'MPS'}` : 'not connected'
    case 'activation':
      return `activation ${phaseText(d.phase)}${d.profile ? ` with profile ${d.profile}` : ''}${d.reason ? `: ${d.reason}` : ''}`
    case 'deactivated':
      return 'deactivated'
    case 'status':
      return `${event.service} ${event.instance} is ${stateText(d.state)}`
    default:
      return event.kind
  }
}

export function phaseText (phase) {
  return {
    ACTIVATION_PHASE_STARTED: 'started',
    ACTIVATION_PHASE_SUCCEEDED: 'succeeded',
    ACTIVATION_PHASE_FAILED: 'failed'
  }[phase] ?? 'in progress'
}

export function modeText (mode) {
  return { CONTROL_MODE_CCM: 'CCM', CONTROL_MODE_ACM: 'ACM', CONTROL_MODE_NONE: 'none' }[mode] ?? ''
}

export function stateText (state) {
  return { SERVICE_STATE_ONLINE: 'online', SERVICE_STATE_OFFLINE: 'offline' }[state] ?? 'unknown'
}

function reasonText (reason) {
  return String(reason).replace(/^DISCONNECT_REASON_/, '').toLowerCase().replaceAll('_', ' ')
}
