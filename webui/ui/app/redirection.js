// The browser side of the Intel AMT redirection protocol for serial-over-LAN (spec mps.md §7.3),
// spoken through the MPS relay WebSocket. Multi-byte fields are little-endian.
//
//   → StartRedirectionSession  10 00 00 00 "SOL "
//   ← StartRedirectionSessionReply 11 status … (13 + OEM length bytes)
//   → AuthenticateSession query  13 00 00 00 00 00000000
//   ← AuthenticateSessionReply   14 status 00 00 type len(4) data   (type 0: supported types)
//   → AuthenticateSession digest (type 4) with empty fields — the relay replaces it with a real
//     digest request, so the browser never knows the AMT password
//   ← challenge (type 4, status 1): realm, nonce, qop      → digest response (replaced by the relay)
//   ← success (status 0)          → SOL settings 20 00 00 00 seq(4) + six u16 + u32
//   ← SOL settings reply 21 (23 bytes) → serial settings 27 … ; keep-alive 2B every 2 s
//   ← console data 2A 00 00 00 seq(4) len(2) data    → typed data 28 00 00 00 seq(4) len(2) data
//
// No DOM here: the module runs in Node for its tests.

export const AUTH_QUERY = 0
export const AUTH_DIGEST = 4
const DIGEST_URI = '/RedirectionService'

const u32 = (n) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]
const u16 = (n) => [n & 0xff, (n >>> 8) & 0xff]
const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0) & 0xff)
const field = (s) => [Math.min(s.length, 255), ...ascii(s).slice(0, 255)]
const readU32 = (b, i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0

/** StartRedirectionSession for SOL. */
export function startSol () {
  return Uint8Array.from([0x10, 0x00, 0x00, 0x00, 0x53, 0x4f, 0x4c, 0x20])
}

/** AuthenticateSession asking which authentication types AMT supports. */
export function authQuery () {
  return Uint8Array.from([0x13, 0x00, 0x00, 0x00, AUTH_QUERY, 0x00, 0x00, 0x00, 0x00])
}

/** The opening digest request (type 4): user and URI, realm/nonce/cnonce/nc/response/qop empty. */
export function digestOpening (user = '', uri = '') {
  const data = [...field(user), 0x00, 0x00, ...field(uri), 0x00, 0x00, 0x00, 0x00]
  return Uint8Array.from([0x13, 0x00, 0x00, 0x00, AUTH_DIGEST, ...u32(data.length), ...data])
}

/** The digest answer to a challenge: MD5(MD5(user:realm:pass):nonce:nc:cnonce:qop:MD5("POST:uri")). */
export function digestResponse ({ user, password, realm, nonce, qop, cnonce, nc = '00000001', uri = DIGEST_URI }) {
  const ha1 = md5(`${user}:${realm}:${password}`)
  const ha2 = md5(`POST:${uri}`)
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
  const data = [user, realm, nonce, uri, cnonce, nc, response, qop].flatMap(field)
  return Uint8Array.from([0x13, 0x00, 0x00, 0x00, AUTH_DIGEST, ...u32(data.length), ...data])
}

/** SOL settings AMT should use (the reference client's values). */
export function solSettings (seq) {
  const maxTxBuffer = 10000
  const txTimeout = 100
  const txOverflowTimeout = 0
  const rxTimeout = 10000
  const rxFlushTimeout = 100
  const heartbeat = 0
  return Uint8Array.from([0x20, 0x00, 0x00, 0x00, ...u32(seq),
    ...u16(maxTxBuffer), ...u16(txTimeout), ...u16(txOverflowTimeout),
    ...u16(rxTimeout), ...u16(rxFlushTimeout), ...u16(heartbeat), ...u32(0)])
}

/** Serial settings sent after AMT accepted the SOL settings. */
export function serialSettings (seq) {
  return Uint8Array.from([0x27, 0x00, 0x00, 0x00, ...u32(seq), 0x00, 0x00, 0x1b, 0x00, 0x00, 0x00])
}

export function keepAlive (seq) {
  return Uint8Array.from([0x2b, 0x00, 0x00, 0x00, ...u32(seq)])
}

/** Typed data for the host's serial console (split at the u16 length limit). */
export function solData (seq, bytes) {
  const chunk = bytes.subarray(0, 0xffff)
  const out = new Uint8Array(10 + chunk.length)
  out.set([0x28, 0x00, 0x00, 0x00, ...u32(seq), ...u16(chunk.length)])
  out.set(chunk, 10)
  return out
}

/** Splits u8-length-prefixed fields (realm, nonce, qop of a challenge). */
export function lengthPrefixed (bytes) {
  const fields = []
  let i = 0
  while (i < bytes.length) {
    const len = bytes[i]
    if (i + 1 + len > bytes.length) return null
    fields.push(String.fromCharCode(...bytes.subarray(i + 1, i + 1 + len)))
    i += 1 + len
  }
  return fields
}

/**
 * Cuts AMT's byte stream into messages. feed(bytes) returns the complete ones:
 * {type: 'startReply', status} | {type: 'authReply', status, authType, data} | {type: 'solReply'}
 * | {type: 'data', bytes} | {type: 'keepAlive'} | {type: 'serialSettings'} | {type: 'endReply'}
 * | {type: 'unknown', code} (after which the stream cannot be followed).
 */
export class Parser {
  constructor () {
    this.buffer = new Uint8Array(0)
  }

  feed (bytes) {
    const joined = new Uint8Array(this.buffer.length + bytes.length)
    joined.set(this.buffer)
    joined.set(bytes, this.buffer.length)
    this.buffer = joined
    const messages = []
    for (;;) {
      const message = this.next()
      if (!message) break
      messages.push(message)
      if (message.type === 'unknown') break
    }
    return messages
  }

  next () {
    const b = this.buffer
    if (b.length === 0) return null
    let size = 0
    let message = null
    switch (b[0]) {
      case 0x11: { // StartRedirectionSessionReply
        if (b.length < 4) return null
        if (b[1] !== 0) { size = b.length; message = { type: 'startReply', status: b[1] }; break }
        if (b.length < 13) return null
        size = 13 + b[12]
        if (b.length < size) return null
        message = { type: 'startReply', status: 0 }
        break
      }
      case 0x14: { // AuthenticateSessionReply
        if (b.length < 9) return null
        const len = readU32(b, 5)
        if (b.length < 9 + len) return null
        size = 9 + len
        message = { type: 'authReply', status: b[1], authType: b[4], data: b.slice(9, size) }
        break
      }
      case 0x21: // SOL settings reply
        if (b.length < 23) return null
        size = 23
        message = { type: 'solReply', status: b[1] }
        break
      case 0x23: // End SOL reply
        if (b.length < 8) return null
        size = 8
        message = { type: 'endReply' }
        break
      case 0x25: // pong
      case 0x2b: // keep-alive
        if (b.length < 8) return null
        size = 8
        message = { type: 'keepAlive' }
        break
      case 0x29: // serial settings
        if (b.length < 10) return null
        size = 10
        message = { type: 'serialSettings' }
        break
      case 0x2a: { // console data
        if (b.length < 10) return null
        size = 10 + (b[8] | (b[9] << 8))
        if (b.length < size) return null
        message = { type: 'data', bytes: b.slice(10, size) }
        break
      }
      default:
        this.buffer = new Uint8Array(0)
        return { type: 'unknown', code: b[0] }
    }
    this.buffer = b.slice(size)
    return message
  }
}

/** Session states, as ui-toolkit numbers them: 0 closed, 1 connecting, 2 socket open, 3 SOL running. */
export const State = Object.freeze({ CLOSED: 0, CONNECTING: 1, NEGOTIATING: 2, RUNNING: 3 })

/**
 * One SOL session over the relay.
 *   new SolSession({url, token, onData(bytes), onState(state, why)}).open()
 * `user`/`password` are only for a relay that does not inject credentials; through MPS they stay
 * empty and the relay answers AMT's challenge itself.
 */
export class SolSession {
  constructor ({ url, token, onData = () => {}, onState = () => {}, user = '', password = '', WebSocketImpl = globalThis.WebSocket }) {
    Object.assign(this, { url, token, onData, onState, user, password, WebSocketImpl })
    this.parser = new Parser()
    this.seq = 0
    this.state = State.CLOSED
    this.socket = null
    this.keepAliveTimer = null
  }

  setState (state, why = '') {
    if (this.state === state && !why) return
    this.state = state
    this.onState(state, why)
  }

  open () {
    this.setState(State.CONNECTING)
    const socket = new this.WebSocketImpl(this.url, this.token)
    socket.binaryType = 'arraybuffer'
    this.socket = socket
    socket.onopen = () => {
      this.setState(State.NEGOTIATING)
      this.write(startSol())
    }
    socket.onmessage = (event) => this.receive(event.data)
    socket.onclose = () => this.close('the connection closed')
    socket.onerror = () => this.close('the relay refused the connection')
  }

  write (bytes) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(bytes)
  }

  /** The relay sends text frames whose characters are byte values, or binary frames. */
  receive (data) {
    const bytes = typeof data === 'string'
      ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)
      : new Uint8Array(data)
    for (const message of this.parser.feed(bytes)) this.handle(message)
  }

  handle (m) {
    switch (m.type) {
      case 'startReply':
        if (m.status !== 0) return this.close(startStatusText(m.status))
        return this.write(authQuery())
      case 'authReply':
        if (m.authType === AUTH_QUERY) {
          if (!m.data.includes(AUTH_DIGEST)) return this.close('AMT offers no digest authentication')
          return this.write(digestOpening(this.user, this.user ? DIGEST_URI : ''))
        }
        if (m.status === 1 && m.authType === AUTH_DIGEST) {
          const [realm = '', nonce = '', qop = 'auth'] = lengthPrefixed(m.data) ?? []
          if (!realm) return this.close('authentication failed')
          return this.write(digestResponse({
            user: this.user, password: this.password, realm, nonce, qop, cnonce: randomHex(32), nc: '00000002'
          }))
        }
        if (m.status === 0) return this.write(solSettings(this.seq++))
        return this.close('authentication failed')
      case 'solReply':
        if (m.status !== 0) return this.close('AMT refused the SOL settings')
        this.write(serialSettings(this.seq++))
        this.keepAliveTimer = setInterval(() => this.write(keepAlive(this.seq++)), 2000)
        return this.setState(State.RUNNING)
      case 'data':
        return this.onData(m.bytes)
      case 'unknown':
        return this.close(`unexpected message 0x${m.code.toString(16)} from AMT`)
      default:
    }
  }

  /** Sends typed text or bytes to the host's console. */
  send (input) {
    if (this.state !== State.RUNNING) return
    const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input
    for (let i = 0; i < bytes.length; i += 0xffff) this.write(solData(this.seq++, bytes.subarray(i, i + 0xffff)))
  }

  close (why = '') {
    clearInterval(this.keepAliveTimer)
    this.keepAliveTimer = null
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.onerror = null
      socket.onmessage = null
      try {
        if (socket.readyState === 1) socket.send(Uint8Array.from([0x12, 0x00, 0x00, 0x00]))
        socket.close()
      } catch { /* already closed */ }
    }
    if (this.state !== State.CLOSED || why) this.setState(State.CLOSED, why)
  }
}

function startStatusText (status) {
  return {
    1: 'AMT does not know this session type',
    2: 'a SOL session is already open on this device',
    3: 'SOL is not enabled on this device',
    255: 'AMT reported an error'
  }[status] ?? `AMT refused the session (status ${status})`
}

function randomHex (n) {
  const bytes = new Uint8Array(Math.ceil(n / 2))
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, n)
}

// MD5 (RFC 1321) of a string's UTF-8 bytes, lower-case hex. AMT's digest needs it, and no browser
// API offers MD5.
const S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
const K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0)

export function md5 (text) {
  const bytes = Array.from(new TextEncoder().encode(text))
  const bitLength = bytes.length * 8
  bytes.push(0x80)
  while (bytes.length % 64 !== 56) bytes.push(0)
  bytes.push(...u32(bitLength >>> 0), ...u32(Math.floor(bitLength / 2 ** 32)))
  let [a0, b0, c0, d0] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]
  for (let chunk = 0; chunk < bytes.length; chunk += 64) {
    const m = Array.from({ length: 16 }, (_, i) => readU32(bytes, chunk + i * 4))
    let [a, b, c, d] = [a0, b0, c0, d0]
    for (let i = 0; i < 64; i++) {
      let f, g
      if (i < 16) { f = (b & c) | (~b & d); g = i } else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16 } else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16 } else { f = c ^ (b | ~d); g = (7 * i) % 16 }
      const sum = (a + f + K[i] + m[g]) >>> 0
      a = d
      d = c
      c = b
      b = (b + ((sum << S[i]) | (sum >>> (32 - S[i])))) >>> 0
    }
    a0 = (a0 + a) >>> 0
    b0 = (b0 + b) >>> 0
    c0 = (c0 + c) >>> 0
    d0 = (d0 + d) >>> 0
  }
  return [a0, b0, c0, d0].flatMap(u32).map((x) => x.toString(16).padStart(2, '0')).join('')
}
