// Unit tests of the UI's AMT redirection module (webui/ui/app/redirection.js) with the byte layouts
// of spec mps.md §7.3 and the reference client's messages. Run: node --test webui/tests/js/
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'

// The module is an ES module served to browsers as .js; import it from its text.
const source = await readFile(new URL('../../ui/app/redirection.js', import.meta.url), 'utf8')
const r = await import('data:text/javascript;base64,' + Buffer.from(source).toString('base64'))

const hex = (bytes) => Buffer.from(bytes).toString('hex')
const fromHex = (s) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'))

test('md5 matches the RFC 1321 test suite', () => {
  const vectors = {
    '': 'd41d8cd98f00b204e9800998ecf8427e',
    a: '0cc175b9c0f1b6a831c399e269772661',
    abc: '900150983cd24fb0d6963f7d28e17f72',
    'message digest': 'f96b697d7cb7938d525a2f31aaf161d0',
    abcdefghijklmnopqrstuvwxyz: 'c3fcd3d76192e4007dfb496cca67e13b',
    '12345678901234567890123456789012345678901234567890123456789012345678901234567890': '57edf4a22be3c955ac49da2e2107b67a'
  }
  for (const [input, digest] of Object.entries(vectors)) assert.equal(r.md5(input), digest, input)
})

test('session start, query and opening digest are the reference bytes', () => {
  assert.equal(hex(r.startSol()), '10000000534f4c20')
  assert.equal(hex(r.authQuery()), '130000000000000000')
  // Through MPS the browser knows no user: the relay replaces this message (type 4, 8 bytes of data).
  assert.equal(hex(r.digestOpening()), '13000000' + '04' + '08000000' + '00' + '0000' + '00' + '00000000')
  const named = r.digestOpening('admin', '/RedirectionService')
  assert.equal(hex(named.subarray(0, 9)), '130000000420000000')
  assert.equal(named.length, 9 + 32)
})

test('the digest response follows the spec formula', () => {
  const msg = r.digestResponse({
    user: 'admin', password: 'P@ssw0rd', realm: 'Digest:AF541D9BC94CFF7ADFA073F492F355E6',
    nonce: 'dcdcca9a1ae4c8b19ac3d4bcb87e5a29', qop: 'auth', cnonce: 'a1b2c3d4e5', nc: '00000001'
  })
  assert.equal(msg[0], 0x13)
  assert.equal(msg[4], 4)
  const len = msg[5] | (msg[6] << 8) | (msg[7] << 16) | (msg[8] << 24)
  assert.equal(len, msg.length - 9)
  const fields = r.lengthPrefixed(msg.subarray(9))
  const [user, realm, nonce, uri, cnonce, nc, response, qop] = fields
  assert.deepEqual([user, uri, cnonce, nc, qop], ['admin', '/RedirectionService', 'a1b2c3d4e5', '00000001', 'auth'])
  const ha1 = r.md5(`admin:${realm}:P@ssw0rd`)
  const ha2 = r.md5('POST:/RedirectionService')
  assert.equal(response, r.md5(`${ha1}:${nonce}:00000001:a1b2c3d4e5:auth:${ha2}`))
})

test('SOL settings, serial settings, keep-alive and data', () => {
  const settings = r.solSettings(0)
  assert.equal(settings.length, 24)
  assert.equal(hex(settings), '20000000' + '00000000' + '1027' + '6400' + '0000' + '1027' + '6400' + '0000' + '00000000')
  assert.equal(hex(r.serialSettings(1)), '27000000' + '01000000' + '00001b000000')
  assert.equal(hex(r.keepAlive(2)), '2b000000' + '02000000')
  assert.equal(hex(r.solData(3, new TextEncoder().encode('ls\r'))), '28000000' + '03000000' + '0300' + '6c730d')
})

test('the parser cuts AMT messages, even split across frames', () => {
  const p = new r.Parser()
  const start = fromHex('11 00 00 00 01 00 02 00 57 01 00 00 00')
  assert.deepEqual(p.feed(start.subarray(0, 5)), [])
  assert.deepEqual(p.feed(start.subarray(5)), [{ type: 'startReply', status: 0 }])
  const query = fromHex('14 00 00 00 00 02000000 03 04')
  const [q] = p.feed(query)
  assert.equal(q.type, 'authReply')
  assert.equal(q.authType, 0)
  assert.deepEqual(Array.from(q.data), [3, 4])
  const challenge = Uint8Array.from([0x14, 1, 0, 0, 4, 9, 0, 0, 0, 2, 0x72, 0x6d, 3, 0x6e, 0x6f, 0x6e, 1, 0x61])
  const [c, rest] = p.feed(challenge)
  assert.deepEqual(r.lengthPrefixed(c.data), ['rm', 'non', 'a'])
  assert.equal(rest, undefined)
  // 0x00 is not a message AMT sends: the stream cannot be followed after it.
  assert.deepEqual(p.feed(Uint8Array.from([0, 0x2b])), [{ type: 'unknown', code: 0 }])
  const data = fromHex('2a 00 00 00 05000000 0700 6c6f67696e3a20')
  const [d] = new r.Parser().feed(data)
  assert.equal(new TextDecoder().decode(d.bytes), 'login: ')
})

test('a session negotiates SOL with a scripted AMT and then carries data both ways', async () => {
  const sent = []
  let socket
  class FakeSocket {
    constructor (url, protocol) {
      this.url = url
      this.protocol = protocol
      this.readyState = 1
      socket = this
      queueMicrotask(() => this.onopen())
    }

    send (bytes) { sent.push(new Uint8Array(bytes)) }
    close () { this.readyState = 3 }
  }
  const states = []
  const output = []
  const session = new r.SolSession({
    url: 'ws://relay/webrelay.ashx', token: 'jwt', WebSocketImpl: FakeSocket,
    onData: (b) => output.push(new TextDecoder().decode(b)), onState: (s) => states.push(s)
  })
  session.open()
  await new Promise((resolve) => setTimeout(resolve, 0))
  assert.equal(socket.protocol, 'jwt')
  assert.equal(hex(sent.shift()), '10000000534f4c20')
  // AMT as the relay forwards it: text frames whose characters are byte values.
  const asText = (h) => String.fromCharCode(...fromHex(h))
  socket.onmessage({ data: asText('11 00 00 00 01 00 02 00 57 01 00 00 00') })
  assert.equal(hex(sent.shift()), '130000000000000000')
  socket.onmessage({ data: fromHex('14 00 00 00 00 02000000 03 04').buffer })
  assert.equal(sent.shift()[4], 4)
  socket.onmessage({ data: asText('14 01 00 00 04 0c000000 02 726d 03 6e6f6e 04 61757468') })
  const answer = sent.shift()
  assert.deepEqual(r.lengthPrefixed(answer.subarray(9)).slice(1, 3), ['rm', 'non'])
  socket.onmessage({ data: asText('14 00 00 00 04 00000000') })
  assert.equal(sent.shift()[0], 0x20)
  socket.onmessage({ data: asText('21 00 00 00 00000000 e803 6400 0000 1027 6400 0000 000000' + '2a 00 00 00 00000000 0700 6c6f67696e3a20') })
  assert.equal(sent.shift()[0], 0x27)
  assert.equal(states.at(-1), r.State.RUNNING)
  assert.deepEqual(output, ['login: '])
  session.send('root\r')
  const typed = sent.shift()
  assert.equal(hex(typed.subarray(0, 4)), '28000000')
  assert.equal(new TextDecoder().decode(typed.subarray(10)), 'root\r')
  session.close()
  assert.equal(hex(sent.shift()), '12000000')
  assert.equal(states.at(-1), r.State.CLOSED)
})

test('a busy device ends the session with a reason', async () => {
  let socket
  class FakeSocket {
    constructor () { this.readyState = 1; socket = this; queueMicrotask(() => this.onopen()) }
    send () {}
    close () {}
  }
  const reasons = []
  const session = new r.SolSession({ url: 'ws://x', token: 't', WebSocketImpl: FakeSocket, onState: (s, why) => reasons.push([s, why]) })
  session.open()
  await new Promise((resolve) => setTimeout(resolve, 0))
  socket.onmessage({ data: String.fromCharCode(0x11, 0x02, 0, 0) })
  assert.deepEqual(reasons.at(-1), [r.State.CLOSED, 'a SOL session is already open on this device'])
})
