// Words for AMT's numbers.

/** CIM power states as the reference UI groups them (2 on, 3/4 sleep, 6/8/13 off, 7 hibernate, 9 cycle). */
export function powerLabel (state) {
  const labels = {
    2: 'On',
    3: 'Sleep (light)',
    4: 'Sleep (deep)',
    5: 'Power cycle (soft)',
    6: 'Off (hard)',
    7: 'Hibernate',
    8: 'Off (soft)',
    9: 'Power cycle (hard)',
    10: 'Reset',
    11: 'NMI',
    12: 'Off (soft, graceful)',
    13: 'Off (hard, graceful)',
    14: 'Reset (graceful)',
    15: 'Power cycle (soft, graceful)',
    16: 'Power cycle (hard, graceful)'
  }
  return labels[state] ?? (state === undefined || state === null ? 'Unknown' : `State ${state}`)
}

export function powerTone (state) {
  if (state === 2) return 'ok'
  if ([3, 4, 7].includes(state)) return 'warn'
  if ([6, 8, 12, 13].includes(state)) return 'bad'
  return ''
}

/** The actions the device page offers (POST /amt/power/action), in the reference's numbers. */
export const POWER_ACTIONS = [
  { action: 2, label: 'Power up' },
  { action: 8, label: 'Power off' },
  { action: 10, label: 'Reset' },
  { action: 5, label: 'Power cycle' },
  { action: 12, label: 'Soft off' },
  { action: 14, label: 'Soft reset' },
  { action: 4, label: 'Sleep' },
  { action: 7, label: 'Hibernate' }
]

export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** AMT_SetupAndConfigurationService.ProvisioningMode. */
export function provisioningMode (mode) {
  return { 1: 'Admin control mode (ACM)', 4: 'Client control mode (CCM)' }[mode] ?? (mode === undefined ? '' : `Mode ${mode}`)
}

/** The control mode RPS recorded (deviceInfo.currentMode: "0" none, "1" CCM, "2" ACM). */
export function controlModeOf (currentMode) {
  return { 0: 'Pre-provisioning', 1: 'Client control mode (CCM)', 2: 'Admin control mode (ACM)' }[currentMode] ?? ''
}
