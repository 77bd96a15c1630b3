// AMT profiles (RPS /api/v1/admin/profiles): activation mode, passwords (write-only), user consent,
// redirection features, network and the CIRA or TLS connection.

import { h } from '../dom.js'
import { rps } from '../config.js'
import { namesOf } from './crud.js'

const TLS_MODES = [
  ['1', '1 – Server authentication only'],
  ['2', '2 – Server and non-TLS authentication'],
  ['3', '3 – Mutual TLS only'],
  ['4', '4 – Mutual and non-TLS authentication']
]

const connectionOf = (p) => p?.tlsMode ? 'tls' : p?.ciraConfigName ? 'cira' : p ? 'none' : 'cira'

export const profiles = {
  name: 'profiles',
  path: '/profiles',
  title: 'Profiles',
  singular: 'profile',
  api: rps('/api/v1/admin/profiles'),
  key: 'profileName',
  intro: 'How a device is activated and configured: control mode, passwords, features and how it connects back.',
  columns: [
    { label: 'Name', cell: (p) => h('a', { href: `/profiles/${encodeURIComponent(p.profileName)}` }, p.profileName) },
    { label: 'Activation', cell: (p) => p.activation === 'acmactivate' ? 'ACM' : 'CCM' },
    { label: 'Connection', cell: (p) => p.ciraConfigName ? `CIRA (${p.ciraConfigName})` : p.tlsMode ? `TLS mode ${p.tlsMode}` : 'None' },
    { label: 'User consent', cell: (p) => p.userConsent ?? '' },
    { label: 'Tags', cell: (p) => (p.tags ?? []).map((t) => h('span', { class: 'tag' }, t)) }
  ],
  defaults: { activation: 'ccmactivate', userConsent: 'All', kvmEnabled: true, solEnabled: true, iderEnabled: false, dhcpEnabled: true, ipSyncEnabled: true, generateRandomPassword: false, generateRandomMEBxPassword: false },
  async options (ctx) {
    const [cira, wifi] = await Promise.all([
      namesOf(rps('/api/v1/admin/ciraconfigs'), 'configName', ctx.signal),
      namesOf(rps('/api/v1/admin/wirelessconfigs'), 'profileName', ctx.signal)
    ])
    return { cira, wifi }
  },
  fields (options, original) {
    const acm = (v) => v.activation === 'acmactivate'
    return [
      { name: 'profileName', label: 'Profile name', required: true, hint: 'Letters, numbers and special characters, no spaces.' },
      { name: 'activation', label: 'Activation', type: 'select', options: [['ccmactivate', 'Client control mode (CCM)'], ['acmactivate', 'Admin control mode (ACM)']] },
      { name: 'generateRandomPassword', label: 'Generate a random AMT password for each device', type: 'checkbox', group: 'Passwords' },
      { name: 'amtPassword', label: 'AMT password', type: 'password', group: 'Passwords', showIf: (v) => !v.generateRandomPassword, hint: '8 to 32 characters with a lower-case and an upper-case letter, a digit and a special character.' },
      { name: 'generateRandomMEBxPassword', label: 'Generate a random MEBx password for each device', type: 'checkbox', group: 'Passwords', showIf: acm },
      { name: 'mebxPassword', label: 'MEBx password', type: 'password', group: 'Passwords', showIf: (v) => acm(v) && !v.generateRandomMEBxPassword },
      { name: 'userConsent', label: 'User consent', type: 'select', options: [['None', 'None'], ['KVM', 'KVM only'], ['All', 'All']], hint: 'Client control mode requires consent for all redirection.' },
      { name: 'kvmEnabled', label: 'KVM', type: 'checkbox', group: 'Redirection' },
      { name: 'solEnabled', label: 'Serial over LAN', type: 'checkbox', group: 'Redirection' },
      { name: 'iderEnabled', label: 'IDE redirection', type: 'checkbox', group: 'Redirection' },
      { name: 'dhcpEnabled', label: 'DHCP', type: 'checkbox', group: 'Network' },
      { name: 'ipSyncEnabled', label: 'Synchronise the IP address with the host', type: 'checkbox', group: 'Network' },
      { name: 'wifiConfigs', label: 'Wireless profiles (in priority order)', type: 'checks', group: 'Network', options: options.wifi.map((n) => [n, n]), empty: 'No wireless profiles.', showIf: (v) => v.dhcpEnabled, default: [] },
      { name: 'connection', label: 'Connection type', type: 'select', group: 'Connection', default: connectionOf(original), options: [['cira', 'CIRA (devices call the MPS)'], ['tls', 'TLS (direct)'], ['none', 'None']] },
      { name: 'ciraConfigName', label: 'CIRA configuration', type: 'select', group: 'Connection', options: [['', '—'], ...options.cira.map((n) => [n, n])], showIf: (v) => v.connection === 'cira' },
      { name: 'tlsMode', label: 'TLS mode', type: 'select', group: 'Connection', options: TLS_MODES, default: '1', showIf: (v) => v.connection === 'tls' },
      { name: 'tlsSigningAuthority', label: 'TLS signing authority', type: 'select', group: 'Connection', options: [['SelfSigned', 'Self-signed'], ['MicrosoftCA', 'Microsoft CA']], showIf: (v) => v.connection === 'tls' },
      { name: 'tags', label: 'Tags', type: 'tags', hint: 'Comma-separated; activated devices carry them.' }
    ]
  },
  // wifiConfigs entries are objects in the API; the form shows their names.
  fieldFor: (path) => (path ?? '').split(/[[.]/)[0],
  toBody (v, original, isNew) {
    const body = {
      profileName: v.profileName,
      activation: v.activation,
      userConsent: v.userConsent,
      kvmEnabled: v.kvmEnabled,
      solEnabled: v.solEnabled,
      iderEnabled: v.iderEnabled,
      dhcpEnabled: v.dhcpEnabled,
      ipSyncEnabled: v.ipSyncEnabled,
      tags: v.tags ?? [],
      ciraConfigName: v.connection === 'cira' && v.ciraConfigName ? v.ciraConfigName : null,
      tlsMode: v.connection === 'tls' ? Number(v.tlsMode) : null,
      tlsSigningAuthority: v.connection === 'tls' ? v.tlsSigningAuthority : null,
      wifiConfigs: v.dhcpEnabled ? (v.wifiConfigs ?? []).map((name, i) => ({ profileName: typeof name === 'string' ? name : name.profileName, priority: i + 1 })) : []
    }
    const acm = v.activation === 'acmactivate'
    if (isNew) {
      body.generateRandomPassword = v.generateRandomPassword
      if (!v.generateRandomPassword && v.amtPassword) body.amtPassword = v.amtPassword
      if (acm) {
        body.generateRandomMEBxPassword = v.generateRandomMEBxPassword
        if (!v.generateRandomMEBxPassword && v.mebxPassword) body.mebxPassword = v.mebxPassword
      }
      return body
    }
    // Editing: what the form does not show is sent back as it was (RPS clears omitted links).
    body.version = original.version
    body.ieee8021xProfileName = original.ieee8021xProfileName ?? null
    body.proxyConfigs = original.proxyConfigs ?? []
    body.localWifiSyncEnabled = original.localWifiSyncEnabled ?? null
    body.uefiWifiSyncEnabled = original.uefiWifiSyncEnabled ?? null
    // Passwords: a typed one replaces the stored one; switching to random says so; otherwise kept.
    if (v.generateRandomPassword && !original.generateRandomPassword) body.generateRandomPassword = true
    else if (!v.generateRandomPassword && v.amtPassword) { body.generateRandomPassword = false; body.amtPassword = v.amtPassword }
    if (acm) {
      if (v.generateRandomMEBxPassword && !original.generateRandomMEBxPassword) body.generateRandomMEBxPassword = true
      else if (!v.generateRandomMEBxPassword && v.mebxPassword) { body.generateRandomMEBxPassword = false; body.mebxPassword = v.mebxPassword }
    }
    return body
  }
}
