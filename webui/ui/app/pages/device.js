// One device: its status (live), power state and actions, AMT version and mode, and tabs for the
// general settings and features (KVM/SOL/IDER, user consent), hardware, audit log, event log, the
// serial-over-LAN terminal and its activation. The REST calls are the reference UI's (§3.4).

import { h, fill, toast, table, props, formatTime, uid, promptDialog } from '../dom.js'
import { get, post } from '../api.js'
import { mps, relayBase } from '../config.js'
import { live, phaseText, modeText, describe } from '../live.js'
import { powerLabel, powerTone, POWER_ACTIONS, provisioningMode, controlModeOf } from '../format.js'
import { SolSession, State } from '../redirection.js'
import { Terminal } from '../terminal.js'
import { badgeForPhase } from './dashboard.js'

const AUDIT_PAGE = 10

export default async function devicePage (ctx) {
  const guid = ctx.params.id
  const api = (path) => mps(`/api/v1/amt/${path}/${guid}`)
  let device
  try {
    device = await get(mps(`/api/v1/devices/${guid}`), { signal: ctx.signal })
  } catch (error) {
    if (error.status === 404 || error.status === 400) {
      return h('div', {}, h('h1', {}, 'Device not found'),
        h('p', {}, `MPS knows no device ${guid}.`), h('p', {}, h('a', { href: '/devices' }, 'Back to the devices')))
    }
    throw error
  }
  device = device ?? { guid }
  const connected = () => live.presence.get(guid)?.connected ?? !!device.connectionStatus

  // Summary: status, power, AMT version, mode.
  const statusValue = h('span', { id: 'device-status' })
  const powerValue = h('span', { id: 'power-state' }, '—')
  const versionValue = h('span', { id: 'amt-version' }, '—')
  // RPS records the mode it activated the device in; AMT's ProvisioningMode is the fallback.
  const recordedMode = controlModeOf(device.deviceInfo?.currentMode)
  const modeValue = h('span', { id: 'control-mode' }, recordedMode || '—')
  const showStatus = () => fill(statusValue, connected()
    ? h('span', { class: 'badge ok' }, 'Connected')
    : h('span', { class: 'badge bad' }, 'Disconnected'))
  showStatus()

  let version = null
  const readPower = async () => {
    if (!connected()) { fill(powerValue, h('span', { class: 'muted' }, 'Unknown (not connected)')); return }
    try {
      const state = await get(api('power/state'), { signal: ctx.signal })
      fill(powerValue, h('span', { class: `badge ${powerTone(state?.powerstate)}`, dataset: { state: String(state?.powerstate) } }, powerLabel(state?.powerstate)))
    } catch (error) {
      if (error.name !== 'AbortError') fill(powerValue, h('span', { class: 'muted' }, 'Unavailable'))
    }
  }
  const readVersion = async () => {
    if (!connected()) return
    try {
      version = await get(api('version'), { signal: ctx.signal })
      const sw = version?.CIM_SoftwareIdentity?.responses ?? []
      const amt = sw.find((r) => r.InstanceID === 'AMT') ?? sw[10]
      versionValue.textContent = amt?.VersionString ?? '—'
      if (!recordedMode) modeValue.textContent = provisioningMode(version?.AMT_SetupAndConfigurationService?.response?.ProvisioningMode) || '—'
    } catch (error) {
      if (error.name !== 'AbortError') versionValue.textContent = 'Unavailable'
    }
  }

  // Power actions.
  const actionButtons = POWER_ACTIONS.map(({ action, label }) => h('button', {
    dataset: { action: String(action) },
    on: {
      click: async (event) => {
        const button = event.currentTarget
        button.disabled = true
        try {
          const result = await post(api('power/action'), { method: 'PowerAction', action, useSOL: false })
          const outcome = result?.Body?.ReturnValueStr ?? 'done'
          if (outcome === 'NOT_READY') toast(`${label}: the device is not ready for this action.`, { error: true })
          else toast(`${label}: ${outcome}`)
          await readPower()
          setTimeout(readPower, 2000)
        } catch (error) {
          if (!error.handled) toast(`${label} failed: ${error.message}`, { error: true })
        } finally {
          button.disabled = !connected()
        }
      }
    }
  }, label))
  const setActionsEnabled = () => { for (const b of actionButtons) b.disabled = !connected() }
  setActionsEnabled()

  // Tabs, loaded when first shown.
  const tabs = [
    { id: 'general', label: 'General', load: () => generalTab(guid, api, device, () => version, ctx) },
    { id: 'hardware', label: 'Hardware', load: () => hardwareTab(api, ctx) },
    { id: 'audit', label: 'Audit log', load: () => auditTab(api, ctx) },
    { id: 'events', label: 'Event log', load: () => eventLogTab(api, ctx) },
    { id: 'terminal', label: 'Terminal (SOL)', load: () => terminalTab(guid, api, connected, ctx) },
    { id: 'activation', label: 'Activation', load: () => activationTab(guid, ctx) }
  ]
  const tabList = h('div', { role: 'tablist', 'aria-label': 'Device details' })
  const panels = new Map()
  const loaded = new Set()
  const select = async (id, { focus = false } = {}) => {
    for (const t of tabs) {
      const on = t.id === id
      t.button.setAttribute('aria-selected', String(on))
      t.button.tabIndex = on ? 0 : -1
      panels.get(t.id).hidden = !on
    }
    const tab = tabs.find((t) => t.id === id)
    if (focus) tab.button.focus()
    const url = new URL(location.href)
    url.searchParams.set('tab', id)
    history.replaceState(null, '', url)
    if (loaded.has(id)) return
    loaded.add(id)
    const panel = panels.get(id)
    fill(panel, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'))
    try {
      fill(panel, await tab.load())
    } catch (error) {
      if (error.name === 'AbortError') return
      loaded.delete(id)
      fill(panel, h('div', { class: 'alert error', role: 'alert' },
        error.status === 404 ? 'The device is not connected, so AMT cannot be asked.' : error.message))
    }
  }
  for (const t of tabs) {
    t.button = h('button', {
      role: 'tab', id: `tab-${t.id}`, 'aria-controls': `panel-${t.id}`, 'aria-selected': 'false', tabindex: '-1',
      on: {
        click: () => select(t.id),
        keydown: (e) => {
          const i = tabs.indexOf(t)
          const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key]
          if (to === undefined) return
          e.preventDefault()
          select(tabs[(to + tabs.length) % tabs.length].id, { focus: true })
        }
      }
    }, t.label)
    tabList.append(t.button)
    panels.set(t.id, h('section', { role: 'tabpanel', id: `panel-${t.id}`, 'aria-labelledby': `tab-${t.id}`, tabindex: '0', hidden: true }))
  }

  ctx.cleanup(live.on((type, event) => {
    if (type === 'snapshot' || (type === 'event' && event.guid === guid && ['connected', 'disconnected', 'presence'].includes(event.kind))) {
      const wasShowing = statusValue.textContent
      showStatus()
      setActionsEnabled()
      if (statusValue.textContent !== wasShowing && connected()) { readPower(); readVersion() }
    }
  }))

  await Promise.all([readPower(), readVersion()])
  const initial = tabs.some((t) => t.id === ctx.query.get('tab')) ? ctx.query.get('tab') : 'general'
  queueMicrotask(() => select(initial))

  return h('div', {},
    h('div', { class: 'device-head' },
      h('h1', {}, device.hostname || device.friendlyName || guid),
      h('span', { class: 'guid' }, guid)),
    h('div', { class: 'summary' },
      h('div', {}, h('span', { class: 'label' }, 'Status'), h('span', { class: 'value' }, statusValue)),
      h('div', {}, h('span', { class: 'label' }, 'Power state'), h('span', { class: 'value' }, powerValue)),
      h('div', {}, h('span', { class: 'label' }, 'AMT version'), h('span', { class: 'value' }, versionValue)),
      h('div', {}, h('span', { class: 'label' }, 'Control mode'), h('span', { class: 'value' }, modeValue))),
    h('section', { 'aria-labelledby': 'power-title' },
      h('h2', { id: 'power-title' }, 'Power'),
      h('div', { class: 'actions', role: 'group', 'aria-label': 'Power actions' }, actionButtons)),
    tabList,
    [...panels.values()])
}

async function generalTab (guid, api, device, version, ctx) {
  const [features, general] = await Promise.all([
    get(api('features'), { signal: ctx.signal }),
    get(api('generalSettings'), { signal: ctx.signal }).catch((e) => { if (e.name === 'AbortError') throw e; return null })
  ])
  const v = version()
  const sw = v?.CIM_SoftwareIdentity?.responses ?? []
  const find = (id, index) => (sw.find((r) => r.InstanceID === id) ?? sw[index])?.VersionString
  const setup = v?.AMT_SetupAndConfigurationService?.response ?? {}
  const info = device.deviceInfo ?? {}

  // Features: redirection (KVM/SOL/IDER) and user consent, saved with POST /amt/features.
  const consent = h('select', { id: 'user-consent' },
    [['none', 'None'], ['kvm', 'KVM only'], ['all', 'All redirection']].map(([value, label]) =>
      h('option', { value, selected: String(features?.userConsent ?? '').toLowerCase() === value }, label)))
  const check = (id, label, on) => h('label', {}, h('input', { type: 'checkbox', id, checked: !!on }), label)
  const kvm = check('feature-kvm', 'KVM', features?.KVM)
  const sol = check('feature-sol', 'SOL', features?.SOL)
  const ider = check('feature-ider', 'IDE-R', features?.IDER)
  const save = h('button', { class: 'primary', type: 'submit' }, 'Save features')
  const form = h('form', {
    class: 'entity',
    'aria-labelledby': 'features-title',
    on: {
      submit: async (e) => {
        e.preventDefault()
        save.disabled = true
        const body = {
          userConsent: consent.value,
          enableKVM: kvm.firstChild.checked,
          enableSOL: sol.firstChild.checked,
          enableIDER: ider.firstChild.checked
        }
        if (typeof features?.ocr === 'boolean') body.ocr = features.ocr
        try {
          const result = await post(api('features'), body)
          toast(result?.status ?? 'AMT features updated')
        } catch (error) {
          if (!error.handled) toast(`Saving the features failed: ${error.message}`, { error: true })
        } finally {
          save.disabled = false
        }
      }
    }
  },
  h('h2', { id: 'features-title' }, 'Features'),
  h('div', { class: 'field' }, h('label', { for: 'user-consent' }, 'User consent'), consent),
  h('fieldset', {}, h('legend', {}, 'Redirection'), h('div', { class: 'checks' }, kvm, sol, ider)),
  h('p', { class: 'muted' }, `Opt-in state ${features?.optInState ?? '—'}, redirection ${features?.redirection ? 'enabled' : 'disabled'}.`),
  h('div', { class: 'actions' }, save))

  const body = general?.Body ?? {}
  return h('div', {},
    h('h2', {}, 'Device'),
    props([
      ['Host name', device.hostname], ['Friendly name', device.friendlyName], ['GUID', guid],
      ['DNS suffix', device.dnsSuffix], ['Tags', (device.tags ?? []).join(', ')], ['MPS instance', device.mpsInstance],
      ['Last connected', formatTime(device.lastConnected)], ['Last seen', formatTime(device.lastSeen)],
      ['Last disconnected', formatTime(device.lastDisconnected)]
    ]),
    h('h2', {}, 'AMT'),
    props([
      ['AMT version', find('AMT', 10)], ['Build', find('Build Number', 6)], ['SKU', find('Sku', 7)],
      ['Provisioning mode', provisioningMode(setup.ProvisioningMode)], ['DHCP DNS suffix', setup.DhcpDNSSuffix],
      ['Trusted DNS suffix', setup.TrustedDNSSuffix], ['Control mode (at activation)', controlModeOf(info.currentMode)],
      ['Firmware (at activation)', info.fwVersion],
      ['Features', info.features], ['IP address', info.ipAddress]
    ]),
    form,
    h('h2', {}, 'General settings'),
    props(Object.entries(body).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v)).map(([k, v]) => [k, String(v)])))
}

async function hardwareTab (api, ctx) {
  const hw = await get(api('hardwareInfo'), { signal: ctx.signal })
  const one = (name) => hw?.[name]?.response ?? hw?.[name]?.responses?.[0] ?? {}
  const many = (name) => {
    const r = hw?.[name]?.responses
    return Array.isArray(r) ? r : r ? [r] : []
  }
  const system = one('CIM_ComputerSystemPackage')
  const chassis = one('CIM_Chassis')
  const board = one('CIM_Card')
  const bios = one('CIM_BIOSElement')
  const chips = many('CIM_Chip')
  const cpus = many('CIM_Processor')
  const gib = (bytes) => bytes ? `${(Number(bytes) / 2 ** 30).toFixed(0)} GiB` : ''
  const gb = (kb) => kb ? `${(Number(kb) / 1e6).toFixed(0)} GB` : ''
  return h('div', {},
    h('h2', {}, 'System'),
    props([
      ['Platform GUID', system.PlatformGUID], ['Manufacturer', chassis.Manufacturer], ['Model', chassis.Model],
      ['Serial number', chassis.SerialNumber], ['Version', chassis.Version],
      ['Base board', [board.Manufacturer, board.Model].filter(Boolean).join(' ')], ['Base board serial', board.SerialNumber]
    ]),
    h('h2', {}, 'BIOS'),
    props([
      ['Manufacturer', bios.Manufacturer], ['Version', bios.Version],
      ['Release date', formatTime(bios.ReleaseDate?.DateTime ?? bios.ReleaseDate?.Datetime ?? bios.ReleaseDate)],
      ['Target operating system', bios.TargetOperatingSystem]
    ]),
    h('h2', {}, 'Processors'),
    table([
      { label: 'Model', cell: (r) => r.chip?.Version ?? '' },
      { label: 'Manufacturer', cell: (r) => r.chip?.Manufacturer ?? '' },
      { label: 'Current speed', cell: (r) => r.cpu?.CurrentClockSpeed ? `${r.cpu.CurrentClockSpeed} MHz` : '' },
      { label: 'Max speed', cell: (r) => r.cpu?.MaxClockSpeed ? `${r.cpu.MaxClockSpeed} MHz` : '' }
    ], Array.from({ length: Math.max(chips.length, cpus.length) }, (_, i) => ({ chip: chips[i], cpu: cpus[i] })), { caption: 'Processors' }),
    h('h2', {}, 'Memory'),
    table([
      { label: 'Bank', cell: (r) => r.BankLabel ?? '' },
      { label: 'Capacity', cell: (r) => gib(r.Capacity) },
      { label: 'Speed', cell: (r) => r.ConfiguredMemoryClockSpeed ? `${r.ConfiguredMemoryClockSpeed} MT/s` : '' },
      { label: 'Manufacturer', cell: (r) => r.Manufacturer ?? '' },
      { label: 'Part number', cell: (r) => (r.PartNumber ?? '').trim() },
      { label: 'Serial number', cell: (r) => r.SerialNumber ?? '' }
    ], many('CIM_PhysicalMemory'), { caption: 'Memory' }),
    h('h2', {}, 'Storage'),
    table([
      { label: 'Device', cell: (r) => r.DeviceID ?? r.ElementName ?? '' },
      { label: 'Size', cell: (r) => gb(r.MaxMediaSize) },
      { label: 'Description', cell: (r) => r.ElementName ?? '' }
    ], many('CIM_MediaAccessDevice'), { caption: 'Storage' }))
}

async function auditTab (api, ctx) {
  const holder = h('div', {})
  const show = async (page) => {
    const body = await get(`${api('log/audit')}?startIndex=${page * AUDIT_PAGE + 1}`, { signal: ctx.signal })
    const records = body?.records ?? []
    const total = body?.totalCnt ?? records.length
    fill(holder,
      table([
        { label: 'Time', cell: (r) => formatTime(r.Time) },
        { label: 'Event', cell: (r) => r.Event ?? '' },
        { label: 'Initiator', cell: (r) => r.Initiator ?? '' },
        { label: 'Application', cell: (r) => r.AuditApp ?? '' },
        { label: 'Address', cell: (r) => r.NetAddress ?? '' },
        { label: 'Details', cell: (r) => r.ExStr ?? '' }
      ], records.slice(0, AUDIT_PAGE), { empty: 'The audit log is empty.', caption: 'Audit log' }),
      h('div', { class: 'pager' },
        h('span', {}, `${total} record${total === 1 ? '' : 's'}`),
        h('button', { disabled: page === 0, on: { click: () => show(page - 1) } }, 'Newer'),
        h('button', { disabled: (page + 1) * AUDIT_PAGE >= total, on: { click: () => show(page + 1) } }, 'Older')))
  }
  await show(0)
  return h('div', {}, h('h2', {}, 'Audit log'), holder)
}

async function eventLogTab (api, ctx) {
  const body = await get(`${api('log/event')}?$skip=0&$top=120`, { signal: ctx.signal })
  // MPS answers with a bare array (the reference UI reads .records and shows nothing: not repeated here).
  const records = Array.isArray(body) ? body : body?.records ?? []
  return h('div', {}, h('h2', {}, 'Event log'),
    table([
      { label: 'Time', cell: (r) => formatTime(r.TimeStamp) },
      { label: 'Description', cell: (r) => r.Desc ?? '' },
      { label: 'Entity', cell: (r) => r.EntityStr ?? '' },
      { label: 'Severity', cell: (r) => String(r.EventSeverity ?? '') }
    ], records, { empty: 'The event log is empty.', caption: 'Event log' }))
}

/**
 * AMT's user consent before a redirection session, as the reference UI asks for it: when the device
 * requires consent for all redirection and none is granted yet, AMT shows a six-digit code on the
 * device's screen (StartOptIn) and the user types it here (SendOptInCode). Resolves true to go on.
 */
async function userConsent (api, status) {
  const features = await get(api('features'))
  const required = String(features?.userConsent ?? '').toLowerCase() === 'all'
  if (!required || [3, 4].includes(features?.optInState)) return true
  status.textContent = 'User consent required: asking the device to show a code…'
  try {
    await get(api('userConsentCode'))
  } catch (error) {
    // Already requested (the code is on the screen): ask for it all the same.
    if (error.status !== 400 || error.handled) throw error
  }
  const code = await promptDialog('User consent',
    'The device now shows a six-digit code on its screen. Type it to allow this session.',
    'Consent code', { inputmode: 'numeric', pattern: '[0-9]{6}' })
  if (code === null) {
    await get(api('userConsentCode/cancel')).catch(() => null)
    status.textContent = 'Not connected: consent was cancelled.'
    return false
  }
  try {
    const sent = await post(api('userConsentCode'), { consentCode: Number(code) })
    if (sent?.Body?.ReturnValue === 0) return true
    status.textContent = `The device did not accept the code (${sent?.Body?.ReturnValueStr ?? 'refused'}).`
  } catch (error) {
    if (error.handled) throw error
    status.textContent = `The device did not accept the code (${error.body?.Body?.ReturnValueStr ?? error.message}).`
  }
  return false
}

function terminalTab (guid, api, connected, ctx) {
  const status = h('p', { id: 'sol-status', role: 'status' }, 'Not connected.')
  let session = null
  const terminal = new Terminal({ label: 'Serial-over-LAN console', onInput: (text) => session?.send(text) })
  const connect = h('button', { class: 'primary', id: 'sol-connect' }, 'Connect')
  const disconnect = h('button', { id: 'sol-disconnect', disabled: true }, 'Disconnect')
  const stateText = { [State.CONNECTING]: 'Connecting to the relay…', [State.NEGOTIATING]: 'Starting the SOL session…', [State.RUNNING]: 'Connected. Type in the console; Tab leaves it.' }
  connect.addEventListener('click', async () => {
    if (!connected()) { status.textContent = 'The device is not connected.'; return }
    connect.disabled = true
    try {
      if (!await userConsent(api, status)) {
        connect.disabled = false
        return
      }
      status.textContent = 'Asking MPS for a redirection token…'
      const { token } = await get(mps(`/api/v1/authorize/redirection/${guid}`))
      const url = `${relayBase()}/webrelay.ashx?p=2&host=${guid}&port=16994&tls=0&tls1only=0&mode=sol`
      session = new SolSession({
        url,
        token,
        onData: (bytes) => terminal.write(bytes),
        onState: (state, why) => {
          status.textContent = state === State.CLOSED ? `Disconnected${why ? `: ${why}` : '.'}` : stateText[state]
          connect.disabled = state !== State.CLOSED
          disconnect.disabled = state === State.CLOSED
          if (state === State.RUNNING) terminal.focus()
        }
      })
      session.open()
    } catch (error) {
      connect.disabled = false
      status.textContent = error.handled ? 'Not connected.' : `Could not start the session: ${error.message}`
    }
  })
  disconnect.addEventListener('click', () => session?.close('closed by you'))
  ctx.cleanup(() => session?.close())
  return h('div', {},
    h('h2', {}, 'Serial over LAN'),
    h('div', { class: 'actions' }, connect, disconnect),
    status,
    terminal.element)
}

function activationTab (guid, ctx) {
  const holder = h('div', {})
  const show = () => {
    const a = live.activations.get(guid)
    const history = live.feed.filter((e) => e.guid === guid && ['activation', 'deactivated'].includes(e.kind))
    fill(holder,
      a
        ? props([
          ['Phase', h('span', { class: `badge ${badgeForPhase(a.data?.phase)}`, id: 'activation-phase' }, phaseText(a.data?.phase))],
          ['Profile', a.data?.profile], ['Control mode', modeText(a.data?.controlMode)],
          ['Reason', a.data?.reason], ['At', formatTime(a.data?.at ?? a.time)]
        ])
        : h('p', { class: 'muted' }, 'No activation of this device has been seen since the web UI started.'),
      history.length ? h('ul', {}, history.map((e) => h('li', {}, `${formatTime(e.time)}: ${describe(e)}`))) : null)
  }
  show()
  ctx.cleanup(live.on((type, event) => { if (type === 'snapshot' || (type === 'event' && event.guid === guid)) show() }))
  return h('div', { id: uid('activation') }, h('h2', {}, 'Activation'), holder)
}
