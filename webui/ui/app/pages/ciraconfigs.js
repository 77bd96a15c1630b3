// CIRA configurations (RPS /api/v1/admin/ciraconfigs): where activated devices open their tunnel,
// with the MPS root certificate they must trust (read from MPS /api/v1/ciracert).

import { h, toast } from '../dom.js'
import { get } from '../api.js'
import { rps, mps } from '../config.js'

/** The base64 body of a PEM certificate, as RPS stores mpsRootCertificate. */
export function pemBody (pem) {
  return String(pem).replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
}

const FORMATS = [['201', 'FQDN'], ['3', 'IPv4'], ['4', 'IPv6']]

async function loadRootCertificate (input, onChange) {
  try {
    input.value = pemBody(await get(mps('/api/v1/ciracert'), { text: true }))
    onChange()
  } catch (error) {
    if (!error.handled) toast(`Could not read the MPS certificate: ${error.message}`, { error: true })
  }
}

export const ciraConfigs = {
  name: 'ciraconfigs',
  path: '/ciraconfigs',
  title: 'CIRA Configs',
  singular: 'CIRA config',
  api: rps('/api/v1/admin/ciraconfigs'),
  key: 'configName',
  intro: 'Where devices activated with a profile open their CIRA tunnel to the MPS.',
  columns: [
    { label: 'Name', cell: (c) => h('a', { href: `/ciraconfigs/${encodeURIComponent(c.configName)}` }, c.configName) },
    { label: 'MPS address', cell: (c) => c.mpsServerAddress ?? '' },
    { label: 'Port', cell: (c) => String(c.mpsPort ?? '') },
    { label: 'User name', cell: (c) => c.username ?? '' },
    { label: 'Authentication', cell: (c) => c.authMethod === 1 ? 'Mutual TLS' : 'User name and password' }
  ],
  defaults: { serverAddressFormat: 201, mpsPort: 4433, authMethod: 2 },
  async options () {
    let certificate = ''
    try { certificate = pemBody(await get(mps('/api/v1/ciracert'), { text: true })) } catch { certificate = '' }
    return { certificate }
  },
  fields (options, original) {
    return [
      { name: 'configName', label: 'Configuration name', required: true, hint: 'Letters, numbers, hyphens and underscores.' },
      { name: 'mpsServerAddress', label: 'MPS address', required: true, placeholder: 'mps.example.com' },
      { name: 'serverAddressFormat', label: 'Address format', type: 'select', options: FORMATS },
      { name: 'commonName', label: 'Certificate common name', hint: 'Required for an IPv4 address: the CN of the MPS certificate.' },
      { name: 'mpsPort', label: 'MPS port', type: 'number', required: true },
      { name: 'username', label: 'MPS user name', required: true, hint: '5 to 16 letters and digits.' },
      { name: 'password', label: 'MPS password', type: 'password', hint: 'Leave empty for a random password per device.' },
      { name: 'authMethod', label: 'Authentication', type: 'select', options: [['2', 'User name and password'], ['1', 'Mutual TLS']] },
      {
        name: 'mpsRootCertificate',
        label: 'MPS root certificate',
        type: 'textarea',
        required: true,
        default: original ? undefined : options.certificate,
        action: { label: 'Load from MPS', run: loadRootCertificate }
      },
      { name: 'proxyDetails', label: 'Proxy', hint: 'Optional, e.g. http://proxy.example.com:3128' }
    ]
  },
  toBody (v, original, isNew) {
    const number = (x) => (typeof x === 'string' && /^\d+$/.test(x) ? Number(x) : x)
    const body = {
      configName: v.configName,
      mpsServerAddress: v.mpsServerAddress,
      serverAddressFormat: number(v.serverAddressFormat),
      commonName: v.commonName || v.mpsServerAddress,
      mpsPort: v.mpsPort,
      username: v.username,
      authMethod: number(v.authMethod),
      mpsRootCertificate: v.mpsRootCertificate,
      proxyDetails: v.proxyDetails ?? ''
    }
    if (v.password) body.password = v.password
    if (!isNew) body.version = original.version
    return body
  }
}
