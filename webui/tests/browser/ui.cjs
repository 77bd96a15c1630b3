// Drives the web UI in Debian's Chromium with playwright-core, for webui/tests/browser.rs.
//
// Protocol with the Rust test: each step prints `STEP <name>`; `ASK <what> <arg>` asks the test for
// something only it can do (activate a simulated device, read its power state) and waits for the
// `OK <answer>` line on stdin. Exit status 0 = every check passed. Screenshots go to $SCREENSHOTS.

'use strict'

const path = require('node:path')
const readline = require('node:readline')

const { chromium } = require(process.env.PLAYWRIGHT)

const BASE = process.env.BASE_URL
const SHOTS = process.env.SCREENSHOTS
const USER = process.env.MPS_USERNAME
const PASSWORD = process.env.MPS_PASSWORD
const CIRA_PORT = process.env.CIRA_PORT
const FIRST_GUID = process.env.FIRST_GUID
const EXPIRED_TOKEN = process.env.EXPIRED_TOKEN
const DOMAIN_PFX = process.env.DOMAIN_PFX
const DOMAIN_SUFFIX = process.env.DOMAIN_SUFFIX
const DOMAIN_PASSWORD = process.env.DOMAIN_PASSWORD
const TIMEOUT = 20000

const answers = []
const waiting = []
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const next = waiting.shift()
  if (next) next(line)
  else answers.push(line)
})

/** Asks the Rust side; resolves with what follows `OK `. */
function ask (question) {
  console.log(`ASK ${question}`)
  return new Promise((resolve, reject) => {
    const take = (line) => (line.startsWith('OK ') ? resolve(line.slice(3).trim()) : reject(new Error(`unexpected answer: ${line}`)))
    if (answers.length) take(answers.shift())
    else waiting.push(take)
  })
}

const step = (name) => console.log(`STEP ${name}`)

let shotNumber = 0
async function shot (page, name) {
  shotNumber += 1
  const file = path.join(SHOTS, `${String(shotNumber).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
}

function check (condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`)
}

/** Waits until the element's text contains `test` (a string) or matches it (a RegExp). */
async function waitText (page, selector, test, what = selector) {
  const pattern = test instanceof RegExp ? { source: test.source, flags: test.flags } : null
  const expected = test instanceof RegExp ? null : test
  try {
    await page.waitForFunction(
      ({ selector, expected, pattern }) => {
        const el = document.querySelector(selector)
        if (!el) return false
        const text = el.textContent ?? ''
        return pattern ? new RegExp(pattern.source, pattern.flags).test(text) : text.includes(expected)
      },
      { selector, expected, pattern },
      { timeout: TIMEOUT }
    )
  } catch (error) {
    const actual = await page.locator(selector).first().textContent().catch(() => '<missing>')
    throw new Error(`${what}: expected ${test}, found ${JSON.stringify(actual)}`)
  }
}

/** Basic accessibility of what is on screen: labelled fields, named controls, one h1, unique ids. */
async function accessible (page, where) {
  const problems = await page.evaluate(() => {
    const out = []
    const visible = (el) => el.getClientRects().length > 0
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue
      if (!(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) {
        out.push(`unlabelled ${el.tagName.toLowerCase()} ${el.id || el.name}`)
      }
    }
    for (const el of document.querySelectorAll('button, a[href], [role="tab"]')) {
      if (visible(el) && !((el.textContent ?? '').trim() || el.getAttribute('aria-label'))) out.push(`nameless ${el.tagName.toLowerCase()}`)
    }
    const headings = [...document.querySelectorAll('h1')].filter(visible).length
    if (headings !== 1) out.push(`${headings} h1 headings`)
    const ids = [...document.querySelectorAll('[id]')].map((e) => e.id)
    const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i)
    if (duplicates.length) out.push(`duplicate ids ${duplicates.join(' ')}`)
    if (!document.documentElement.lang) out.push('no page language')
    if (!document.querySelector('main')) out.push('no main landmark')
    return out
  })
  check(problems.length === 0, `accessibility of ${where}: ${problems.join(', ')}`)
}

async function nav (page, label, heading = label) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click()
  await page.getByRole('heading', { name: heading, exact: true, level: 1 }).waitFor()
}

/** The page, for a picture and its text when a check fails. */
let current = null

async function main () {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } })
  context.setDefaultTimeout(TIMEOUT)
  const page = await context.newPage()
  current = page
  const pageErrors = []
  page.on('pageerror', (error) => pageErrors.push(String(error)))
  page.on('console', (message) => {
    // Refused requests (the expired session at the end) are logged by the browser itself; they are expected.
    const text = message.text()
    if (message.type() === 'error' && !text.startsWith('Failed to load resource') && !text.includes('EventSource')) pageErrors.push(text)
  })

  // Log in: a wrong password shows MPS's message; the right one lands on the dashboard.
  await page.goto(`${BASE}/devices`)
  await page.waitForURL('**/login')
  await page.getByLabel('Username', { exact: true }).waitFor()
  await shot(page, 'login')
  await accessible(page, 'the login page')
  // Keyboard: the user name has the focus; before it comes the skip link.
  check(await page.evaluate(() => document.activeElement?.id === 'username'), 'the user name field has the focus')
  await page.keyboard.press('Shift+Tab')
  check(await page.evaluate(() => document.activeElement?.classList.contains('skip-link')), 'the skip link comes first')
  await page.keyboard.press('Tab')
  await page.getByLabel('Username', { exact: true }).fill(USER)
  await page.getByLabel('Password', { exact: true }).fill('Wrong-Passw0rd!')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('alert').filter({ hasText: 'Incorrect Username and/or Password!' }).waitFor()
  await shot(page, 'login-refused')
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.keyboard.press('Enter')
  await page.waitForURL('**/dashboard')
  step('login')
  check(await page.evaluate(() => JSON.parse(localStorage.getItem('loggedInUser')).token.split('.').length === 3),
    'the login body is stored as the reference stores it')

  // The dashboard: counts from MPS, the stream open, the device activated before we came.
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
  await page.locator('.live-indicator[data-state="open"]').waitFor()
  await waitText(page, '#count-connected', '1', 'connected count at load')
  await waitText(page, '#count-total', '1', 'activated count at load')
  await waitText(page, '#services', 'online', 'services panel')
  await waitText(page, '.versions', 'MPS', 'service versions in the toolbar')
  await shot(page, 'dashboard')
  await accessible(page, 'the dashboard')
  step('dashboard')

  // A CIRA config through the form; the MPS root certificate is filled in from MPS.
  await nav(page, 'CIRA Configs')
  await page.getByRole('link', { name: 'New CIRA config' }).click()
  await page.getByLabel('Configuration name', { exact: true }).fill('webui-cira')
  await page.getByLabel('MPS address', { exact: true }).fill('127.0.0.1')
  await page.getByLabel('Address format', { exact: true }).selectOption('3')
  await page.getByLabel('MPS port', { exact: true }).fill(CIRA_PORT)
  await page.getByLabel('MPS user name', { exact: true }).fill('webuiCira1')
  await page.waitForFunction(() => document.querySelector('#f-mpsRootCertificate')?.value.length > 200)
  await shot(page, 'ciraconfigs-new')
  await accessible(page, 'the CIRA config form')
  await page.getByRole('button', { name: 'Create CIRA config' }).click()
  await page.waitForURL('**/ciraconfigs')
  await page.getByRole('cell', { name: 'webui-cira', exact: true }).waitFor()
  await shot(page, 'ciraconfigs')
  step('cira config created')

  // A profile: an invalid AMT password gets RPS's message next to the field; fixed, it is listed.
  await nav(page, 'Profiles')
  await page.getByRole('link', { name: 'New profile' }).click()
  await page.getByLabel('Profile name', { exact: true }).fill('webui-ccm')
  await page.getByLabel('AMT password', { exact: true }).fill('weak')
  await page.getByLabel('CIRA configuration', { exact: true }).selectOption('webui-cira')
  await page.getByLabel('Tags', { exact: true }).fill('sim, live')
  await page.getByRole('button', { name: 'Create profile' }).click()
  const fieldError = page.locator('[data-field="amtPassword"] .error')
  await fieldError.first().waitFor()
  const message = await fieldError.first().textContent()
  check(message.includes('AMT password is required field should contains at least one lowercase letter'), `the API's message by the field: ${message}`)
  check(await page.getByLabel('AMT password', { exact: true }).getAttribute('aria-invalid') === 'true', 'the field is marked invalid')
  check(await page.evaluate(() => document.activeElement?.id === 'f-amtPassword'), 'focus moves to the invalid field')
  await shot(page, 'profiles-invalid-field')
  await accessible(page, 'the profile form')
  step('profile error shown')
  await page.getByLabel('AMT password', { exact: true }).fill('Amt-P@ssw0rd1')
  await page.getByRole('button', { name: 'Create profile' }).click()
  await page.waitForURL('**/profiles')
  await page.getByRole('cell', { name: 'webui-ccm', exact: true }).waitFor()
  await waitText(page, '#profiles-list', 'CIRA (webui-cira)', 'the new profile uses the CIRA config')
  await shot(page, 'profiles')
  step('profile created')

  // A device activates with that profile and connects: the dashboard shows it without a reload.
  await nav(page, 'Dashboard')
  await page.evaluate(() => { window.__sameDocument = 'yes' })
  const guid = await ask('activate webui-ccm')
  await waitText(page, '#count-connected', '2', 'connected count after the device connected')
  await waitText(page, '#count-total', '2', 'activated count after the device activated')
  await page.locator(`#event-feed li[data-kind="connected"] a[href="/devices/${guid}"]`).waitFor()
  await page.locator(`#dashboard-activations a[href="/devices/${guid}"]`).waitFor()
  check(await page.evaluate(() => window.__sameDocument) === 'yes', 'the page was not reloaded')
  await shot(page, 'dashboard-live')
  step('device appeared live')

  await nav(page, 'Activations')
  await page.locator(`#activations-table tr:has(a[href="/devices/${guid}"]) [data-phase="ACTIVATION_PHASE_SUCCEEDED"]`).waitFor()
  await shot(page, 'activations')
  await accessible(page, 'the activations page')

  await nav(page, 'Devices')
  const row = page.locator(`#devices-table tr:has(a[href="/devices/${guid}"])`)
  await row.locator('[data-status="connected"]').waitFor()
  await waitText(page, `#devices-table tr:has(a[href="/devices/${guid}"])`, 'On', 'power state in the list')
  await page.locator(`#devices-table tr:has(a[href="/devices/${FIRST_GUID}"]) [data-status="connected"]`).waitFor()
  await shot(page, 'devices')
  await accessible(page, 'the devices page')
  // Filter by a tag the live device carries, then search for it.
  await page.getByText('Filter by tags').click()
  await page.getByRole('checkbox', { name: 'live', exact: true }).check()
  await page.getByRole('button', { name: 'Apply' }).click()
  await page.waitForURL('**/devices?*tags=live*')
  await page.locator(`#devices-table a[href="/devices/${guid}"]`).waitFor()
  check(await page.locator(`#devices-table a[href="/devices/${FIRST_GUID}"]`).count() === 0, 'the tag filter hides the other device')
  await shot(page, 'devices-filtered')
  await page.getByLabel('Search', { exact: true }).fill(guid)
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.locator(`#devices-table a[href="/devices/${guid}"]`).waitFor()
  await waitText(page, '.pager', '1 exact match', 'search result count')

  // The device's page: power state, then power it off.
  await page.locator(`#devices-table a[href="/devices/${guid}"]`).click()
  await page.locator('#power-state [data-state="2"]').waitFor()
  await waitText(page, '#amt-version', /^\d+\.\d+/, 'AMT version')
  await waitText(page, '#device-status', 'Connected', 'device status')
  await waitText(page, '#control-mode', 'Client control mode (CCM)', 'the mode the profile activated')
  await page.locator('#panel-general h2', { hasText: 'Features' }).waitFor()
  await shot(page, 'device')
  await accessible(page, 'the device page')
  await page.getByRole('button', { name: 'Power off', exact: true }).click()
  await page.locator('#power-state [data-state="8"]').waitFor()
  await waitText(page, '#power-state', 'Off (soft)', 'power state after power off')
  check(await ask(`power ${guid}`) === '8', 'the simulated device is off')
  await shot(page, 'device-powered-off')
  step('powered off')

  // Tabs work with the keyboard: arrows move between them.
  await page.getByRole('tab', { name: 'General' }).focus()
  await page.keyboard.press('ArrowRight')
  await page.locator('#tab-hardware[aria-selected="true"]').waitFor()
  await page.locator('#panel-hardware h2', { hasText: 'Memory' }).waitFor()
  await waitText(page, '#panel-hardware', 'NUC9V7QNX', 'hardware model')
  await shot(page, 'device-hardware')
  await page.getByRole('tab', { name: 'Audit log' }).click()
  await waitText(page, '#panel-audit', 'Performed Power Down', 'the power-off in the audit log')
  await shot(page, 'device-audit-log')
  await page.getByRole('tab', { name: 'Event log' }).click()
  await page.locator('#panel-events table').waitFor()
  await shot(page, 'device-event-log')
  await page.getByRole('tab', { name: 'Activation' }).click()
  await waitText(page, '#panel-activation', 'succeeded', 'the device activation')
  await shot(page, 'device-activation')

  // Serial over LAN through the relay: the simulated host's console prompt, and typing into it.
  await page.getByRole('tab', { name: 'Terminal (SOL)' }).click()
  await page.getByRole('button', { name: 'Connect', exact: true }).click()
  // The profile asked for user consent to all redirection: the device shows a code, we type it.
  const consent = page.getByRole('dialog').filter({ hasText: 'User consent' })
  await consent.waitFor()
  await shot(page, 'device-sol-consent')
  const code = await ask(`consent-code ${guid}`)
  await consent.getByLabel('Consent code', { exact: true }).fill(code)
  await consent.getByRole('button', { name: 'Send', exact: true }).click()
  await waitText(page, '#sol-status', 'Connected', 'SOL session state')
  await waitText(page, '#panel-terminal .terminal', 'login:', 'the console prompt')
  await page.locator('#panel-terminal .terminal').focus()
  await page.keyboard.type('admin')
  await page.keyboard.press('Enter')
  await waitText(page, '#panel-terminal .terminal', 'login: admin', 'typed text echoed by the console')
  await shot(page, 'device-sol')
  await accessible(page, 'the SOL terminal')
  step('sol prompt')
  await page.getByRole('button', { name: 'Disconnect', exact: true }).click()
  await waitText(page, '#sol-status', 'Disconnected', 'SOL session closed')

  // Features: switch IDE-R on and save (POST /amt/features).
  await page.getByRole('tab', { name: 'General' }).click()
  await page.getByLabel('IDE-R', { exact: true }).check()
  await page.getByRole('button', { name: 'Save features' }).click()
  await page.locator('.toast', { hasText: 'AMT Features updated' }).waitFor()

  // Editing a profile sends it back with its version (If-Match); a stale version meets the
  // reference's "item was modified" dialog.
  await nav(page, 'Profiles')
  await page.getByRole('link', { name: 'Edit webui-ccm' }).click()
  await page.getByRole('heading', { name: 'Edit profile webui-ccm' }).waitFor()
  await page.getByLabel('Tags', { exact: true }).fill('sim, live, edited')
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await page.waitForURL('**/profiles')
  await waitText(page, '#profiles-list', 'edited', 'the edited tags')
  await page.getByRole('link', { name: 'Edit webui-ccm' }).click()
  await page.getByRole('heading', { name: 'Edit profile webui-ccm' }).waitFor()
  await ask('touch-profile webui-ccm')
  await page.getByLabel('Tags', { exact: true }).fill('sim, stale')
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await page.getByRole('dialog').filter({ hasText: 'Item was modified' }).waitFor()
  await shot(page, 'profiles-item-modified')
  await page.getByRole('dialog').getByRole('button', { name: 'OK' }).click()
  step('conflict shown')

  // Domains: the provisioning certificate is uploaded as a file; a wrong password gets RPS's message
  // by the certificate, the right one creates the domain.
  await nav(page, 'Domains')
  await shot(page, 'domains')
  await page.getByRole('link', { name: 'New domain' }).click()
  await page.getByRole('button', { name: 'Create domain' }).click()
  await page.locator('[data-field="profileName"] .error').first().waitFor()
  await shot(page, 'domains-new-errors')
  await page.getByLabel('Domain name', { exact: true }).fill('webuidomain')
  await page.getByLabel('Domain suffix', { exact: true }).fill(DOMAIN_SUFFIX)
  await page.getByLabel('Provisioning certificate (.pfx)', { exact: true }).setInputFiles(DOMAIN_PFX)
  await page.getByLabel('Certificate password', { exact: true }).fill('not-the-password')
  await page.getByRole('button', { name: 'Create domain' }).click()
  await waitText(page, '[data-field="provisioningCert"] .error-slot', 'Unable to decrypt provisioning certificate', 'the certificate message')
  await shot(page, 'domains-wrong-password')
  await accessible(page, 'the domain form')
  await page.getByLabel('Certificate password', { exact: true }).fill(DOMAIN_PASSWORD)
  await page.getByRole('button', { name: 'Create domain' }).click()
  await page.waitForURL('**/domains')
  await page.getByRole('cell', { name: 'webuidomain', exact: true }).waitFor()
  await shot(page, 'domains-list')
  step('domain uploaded')

  // Wireless: create, then delete behind a confirmation.
  await nav(page, 'Wireless')
  await page.getByRole('link', { name: 'New wireless profile' }).click()
  await page.getByLabel('Profile name', { exact: true }).fill('office1')
  await page.getByLabel('SSID', { exact: true }).fill('office')
  await page.getByLabel('Passphrase', { exact: true }).fill('office-passphrase')
  await page.getByRole('button', { name: 'Create wireless profile' }).click()
  await page.waitForURL('**/wireless')
  await page.getByRole('cell', { name: 'office1', exact: true }).waitFor()
  await shot(page, 'wireless')
  await accessible(page, 'the wireless list')
  await page.getByRole('button', { name: 'Delete office1' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
  await page.locator('#wireless-list td.empty').waitFor()
  step('wireless deleted')

  // Readable on a phone: one column, the menu behind a button.
  await page.setViewportSize({ width: 390, height: 844 })
  await page.getByRole('button', { name: 'Menu' }).click()
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard', exact: true }).click()
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
  await waitText(page, '#count-connected', '2', 'connected count on the phone')
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  check(overflow <= 1, `no sideways scrolling on a phone (${overflow}px)`)
  await shot(page, 'dashboard-phone')
  await accessible(page, 'the dashboard on a phone')
  await page.getByRole('button', { name: 'Menu' }).click()
  await shot(page, 'menu-phone')
  await page.setViewportSize({ width: 1280, height: 900 })
  // The dark scheme follows the system's.
  await page.emulateMedia({ colorScheme: 'dark' })
  await nav(page, 'Devices')
  await shot(page, 'devices-dark')
  await page.emulateMedia({ colorScheme: 'light' })

  // An expired session: the gateway answers {"exp":"token expired"} and the UI says so at login.
  await page.evaluate((token) => localStorage.setItem('loggedInUser', JSON.stringify({ token })), EXPIRED_TOKEN)
  await page.goto(`${BASE}/devices`)
  await page.waitForURL('**/login')
  await page.getByText('Your session timed out. Please log in again.').waitFor()
  check(await page.evaluate(() => localStorage.getItem('loggedInUser')) === null, 'the expired login is forgotten')
  await shot(page, 'login-session-timed-out')
  step('session timed out')

  check(pageErrors.length === 0, `no script errors in the page: ${pageErrors.join(' | ')}`)
  await browser.close()
}

main().then(() => process.exit(0), async (error) => {
  console.log(`FAIL ${error.stack ?? error}`)
  if (current) {
    await shot(current, 'FAILED').catch(() => {})
    console.log(`FAIL at ${current.url()}: ${JSON.stringify((await current.locator('body').innerText().catch(() => '')).slice(0, 2000))}`)
  }
  process.exit(1)
})
