// Runtime configuration from /env.js (served by the webui server), with the same-origin defaults
// the gateway gives: MPS at /mps, RPS at /rps. URLs are derived as the reference Sample Web UI
// derives them: behind the gateway (an MPS URL containing /mps) login is /mps/login/api/v1/authorize
// and the relay is wss://<host>/mps/ws/relay; against a bare MPS, /api/v1/authorize and /relay.

const env = globalThis.__openamt ?? {}

const trim = (url) => String(url).replace(/\/+$/, '')

export const mpsServer = trim(env.mpsServer ?? '/mps')
export const rpsServer = trim(env.rpsServer ?? '/rps')
export const streamUrl = env.streamUrl ?? '/events/stream'
export const sessionUrl = env.sessionUrl ?? '/events/session'
export const uiVersion = env.version ?? ''

const behindGateway = mpsServer.includes('/mps')

export const loginUrl = behindGateway
  ? `${mpsServer}/login/api/v1/authorize`
  : `${mpsServer}/api/v1/authorize`

export const mps = (path) => `${mpsServer}${path}`
export const rps = (path) => `${rpsServer}${path}`

/** The relay's base as a ws(s) URL: the page's origin for a relative MPS URL. */
export function relayBase (location = globalThis.location) {
  const absolute = new URL(mpsServer, location.href)
  const scheme = absolute.protocol === 'https:' ? 'wss:' : 'ws:'
  const base = `${scheme}//${absolute.host}`
  return behindGateway ? `${base}${trim(absolute.pathname)}/ws/relay` : `${base}/relay`
}
