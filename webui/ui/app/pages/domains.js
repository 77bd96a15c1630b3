// Domains (RPS /api/v1/admin/domains): ACM provisioning certificates (a PFX uploaded here, kept by
// RPS in the secret store; never shown again) for a DNS suffix.

import { h, formatTime } from '../dom.js'
import { rps } from '../config.js'

export const domains = {
  name: 'domains',
  path: '/domains',
  title: 'Domains',
  singular: 'domain',
  api: rps('/api/v1/admin/domains'),
  key: 'profileName',
  intro: 'Provisioning certificates that let RPS activate devices of a DNS suffix in admin control mode.',
  columns: [
    { label: 'Name', cell: (d) => h('a', { href: `/domains/${encodeURIComponent(d.profileName)}` }, d.profileName) },
    { label: 'Domain suffix', cell: (d) => d.domainSuffix ?? '' },
    { label: 'Certificate expires', cell: (d) => formatTime(d.expirationDate) }
  ],
  defaults: { provisioningCertStorageFormat: 'raw' },
  fields () {
    return [
      { name: 'profileName', label: 'Domain name', required: true, hint: 'Letters, numbers, hyphens and underscores.' },
      { name: 'domainSuffix', label: 'Domain suffix', required: true, placeholder: 'corp.example.com' },
      { name: 'provisioningCert', label: 'Provisioning certificate (.pfx)', type: 'file', accept: '.pfx,.p12,application/x-pkcs12', required: true, hint: 'The PKCS#12 file with the certificate chain and its private key. When editing, leave empty to keep the stored one.' },
      { name: 'provisioningCertPassword', label: 'Certificate password', type: 'password', required: true },
      { name: 'provisioningCertStorageFormat', label: 'Storage format', type: 'select', options: [['raw', 'raw'], ['string', 'string']] }
    ]
  },
  toBody (v, original, isNew) {
    const body = {
      profileName: v.profileName,
      domainSuffix: v.domainSuffix,
      provisioningCertStorageFormat: v.provisioningCertStorageFormat
    }
    if (isNew || v.provisioningCert) body.provisioningCert = v.provisioningCert
    if (isNew || v.provisioningCertPassword) body.provisioningCertPassword = v.provisioningCertPassword
    if (!isNew) body.version = original.version
    return body
  }
}
