// Activation progress per device, live from the activation events RPS publishes (started →
// succeeded / failed, with the profile, control mode and the reason of a failure). The server keeps
// the latest step of recently activated devices, so the page is full when it opens.

import { h, fill, table, formatTime } from '../dom.js'
import { live, phaseText, modeText } from '../live.js'
import { badgeForPhase } from './dashboard.js'

export default function activationsPage (ctx) {
  const holder = h('div', { id: 'activations-table' })
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' })
  const show = () => {
    const rows = [...live.activations.values()].reverse()
    const count = (phase) => rows.filter((r) => r.data?.phase === phase).length
    summary.textContent = `${count('ACTIVATION_PHASE_STARTED')} in progress, ${count('ACTIVATION_PHASE_SUCCEEDED')} succeeded, ${count('ACTIVATION_PHASE_FAILED')} failed.`
    fill(holder, table([
      { label: 'Device', class: 'mono', cell: (a) => h('a', { href: `/devices/${a.guid}` }, a.guid) },
      { label: 'Host name', cell: (a) => a.data?.hostname ?? '' },
      { label: 'Phase', cell: (a) => h('span', { class: `badge ${badgeForPhase(a.data?.phase)}`, dataset: { phase: a.data?.phase ?? '' } }, phaseText(a.data?.phase)) },
      { label: 'Profile', cell: (a) => a.data?.profile ?? '' },
      { label: 'Mode', cell: (a) => modeText(a.data?.controlMode) },
      { label: 'Reason', cell: (a) => a.data?.reason ?? '' },
      { label: 'Time', class: 'nowrap', cell: (a) => formatTime(a.data?.at ?? a.time) }
    ], rows, { empty: 'No activation has been seen yet. Activate a device with rpc (or openamt sim activate) and it appears here as it happens.', caption: 'Activations' }))
  }
  show()
  ctx.cleanup(live.on((type, event) => {
    if (type === 'snapshot' || (type === 'event' && event.kind === 'activation')) show()
  }))
  return h('div', {}, h('h1', {}, 'Activations'), summary, holder)
}
