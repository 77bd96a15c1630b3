// Wireless profiles (RPS /api/v1/admin/wirelessconfigs): SSID, authentication and encryption, the
// passphrase (write-only) or an 802.1x profile, and the link policy.

import { h } from '../dom.js'
import { rps } from '../config.js'
import { namesOf } from './crud.js'

const AUTH = [['6', 'WPA2 PSK'], ['4', 'WPA PSK'], ['7', 'WPA2 IEEE 802.1x'], ['5', 'WPA IEEE 802.1x']]
const ENCRYPTION = [['4', 'CCMP'], ['3', 'TKIP']]
const LINK_POLICY = [['1', 'S0 on AC'], ['14', 'Sx on AC'], ['16', 'S0 on DC'], ['224', 'Sx on DC']]
const psk = (v) => ['4', '6'].includes(String(v.authenticationMethod))

export const wireless = {
  name: 'wireless',
  path: '/wireless',
  title: 'Wireless',
  singular: 'wireless profile',
  api: rps('/api/v1/admin/wirelessconfigs'),
  key: 'profileName',
  intro: 'Wi-Fi networks a profile gives to AMT.',
  columns: [
    { label: 'Name', cell: (w) => h('a', { href: `/wireless/${encodeURIComponent(w.profileName)}` }, w.profileName) },
    { label: 'SSID', cell: (w) => w.ssid ?? '' },
    { label: 'Authentication', cell: (w) => AUTH.find(([v]) => v === String(w.authenticationMethod))?.[1] ?? String(w.authenticationMethod ?? '') },
    { label: 'Encryption', cell: (w) => ENCRYPTION.find(([v]) => v === String(w.encryptionMethod))?.[1] ?? '' }
  ],
  defaults: { authenticationMethod: 6, encryptionMethod: 4, linkPolicy: [] },
  async options (ctx) {
    const ieee = await namesOf(rps('/api/v1/admin/ieee8021xconfigs'), 'profileName', ctx.signal, (c) => c.wiredInterface === false)
    return { ieee }
  },
  fields (options) {
    return [
      { name: 'profileName', label: 'Profile name', required: true, hint: 'Letters and digits, at most 32.' },
      { name: 'ssid', label: 'SSID', required: true },
      { name: 'authenticationMethod', label: 'Authentication', type: 'select', options: AUTH },
      { name: 'encryptionMethod', label: 'Encryption', type: 'select', options: ENCRYPTION },
      { name: 'pskPassphrase', label: 'Passphrase', type: 'password', showIf: psk, hint: '8 to 63 characters.' },
      { name: 'ieee8021xProfileName', label: '802.1x profile', type: 'select', options: [['', '—'], ...options.ieee.map((n) => [n, n])], showIf: (v) => !psk(v) },
      { name: 'linkPolicy', label: 'Link policy', type: 'checks', options: LINK_POLICY }
    ]
  },
  toBody (v, original, isNew) {
    const body = {
      profileName: v.profileName,
      ssid: v.ssid,
      authenticationMethod: Number(v.authenticationMethod),
      encryptionMethod: Number(v.encryptionMethod),
      linkPolicy: (v.linkPolicy ?? []).map(Number)
    }
    if (psk(v)) {
      if (isNew || v.pskPassphrase) body.pskPassphrase = v.pskPassphrase
    } else {
      body.ieee8021xProfileName = v.ieee8021xProfileName || null
    }
    if (!isNew) body.version = original.version
    return body
  }
}
