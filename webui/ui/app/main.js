// The app: the shell (top bar, navigation, main area), the routes, and the reference UI's session
// rules (logged in = a stored login; a 401 anywhere logs out, "session timed out" when the gateway
// says the token expired).

import { route, start, navigate, match } from './router.js'
import * as session from './session.js'
import { handlers, get } from './api.js'
import { mps, rps, uiVersion } from './config.js'
import { live } from './live.js'
import { h, fill, toast, alertDialog } from './dom.js'

import loginPage from './pages/login.js'
import dashboardPage from './pages/dashboard.js'
import devicesPage from './pages/devices.js'
import devicePage from './pages/device.js'
import activationsPage from './pages/activations.js'
import { listPage, formPage } from './pages/crud.js'
import { profiles } from './pages/profiles.js'
import { ciraConfigs } from './pages/ciraconfigs.js'
import { domains } from './pages/domains.js'
import { wireless } from './pages/wireless.js'

const NAV = [
  { section: 'Fleet' },
  { href: '/dashboard', label: 'Dashboard' },
  { href: '/devices', label: 'Devices' },
  { section: 'Provisioning' },
  { href: '/activations', label: 'Activations' },
  { href: '/profiles', label: 'Profiles' },
  { href: '/ciraconfigs', label: 'CIRA Configs' },
  { href: '/domains', label: 'Domains' },
  { href: '/wireless', label: 'Wireless' }
]

route('/login', loginPage)
route('/', dashboardPage)
route('/dashboard', dashboardPage)
route('/devices', devicesPage)
route('/devices/:id', devicePage)
route('/activations', activationsPage)
for (const entity of [profiles, ciraConfigs, domains, wireless]) {
  route(entity.path, listPage(entity))
  route(`${entity.path}/new`, formPage(entity))
  route(`${entity.path}/:name`, formPage(entity))
}

// The reference interceptor's reactions, shared by every request.
handlers.unauthorized = (body) => {
  // Requests still in flight when the first 401 logged us out come back 401 too; the first one
  // said why (e.g. the session timed out), and that is what the login page shows.
  if (!session.isLoggedIn()) return
  const expired = body && body.exp === 'token expired'
  logout(expired ? 'Your session timed out. Please log in again.' : 'Please log in.')
}
handlers.conflict = () => {
  alertDialog('Item was modified', 'Someone changed this item since it was loaded. Reload it and apply your changes again.')
}
handlers.timeout = () => toast('The device is not responding.', { error: true })

export function logout (message) {
  session.clear()
  live.stop()
  if (message) sessionStorage.setItem('loginMessage', message)
  navigate('/login', { replace: true })
}

let shell = null
let current = null

function buildShell () {
  const indicator = h('span', { class: 'live-indicator', 'data-state': live.state, title: 'Live event stream' }, 'Live')
  live.on((type, state) => {
    if (type !== 'state') return
    indicator.dataset.state = state
    indicator.lastChild.textContent = state === 'open' ? 'Live' : state === 'error' ? 'Offline' : 'Connecting'
  })
  const versions = h('span', { class: 'versions' })
  const nav = h('nav', { class: 'sidebar', id: 'nav', 'aria-label': 'Main' },
    h('ul', {}, NAV.map((item) => item.section
      ? h('li', { class: 'section', 'aria-hidden': 'true' }, item.section)
      : h('li', {}, h('a', { href: item.href }, item.label)))))
  const menuButton = h('button', {
    class: 'menu-button',
    'aria-controls': 'nav',
    'aria-expanded': 'false',
    on: {
      click: () => {
        const open = nav.classList.toggle('open')
        menuButton.setAttribute('aria-expanded', String(open))
      }
    }
  }, 'Menu')
  const main = h('main', { id: 'main', tabindex: '-1' })
  const topbar = h('header', { class: 'topbar' },
    menuButton,
    h('a', { class: 'brand', href: '/dashboard' }, 'openamt'),
    indicator,
    h('span', { class: 'spacer' }),
    versions,
    h('button', { on: { click: () => logout() } }, 'Log out'))
  fill(document.getElementById('app'), topbar, nav, main)
  loadVersions(versions)
  return { main, nav }
}

async function loadVersions (el) {
  const parts = []
  try {
    const v = await get(mps('/api/v1/version'))
    parts.push(`MPS ${v?.serviceVersion ?? '?'}`)
  } catch (error) {
    if (!error.handled) toast('Error retrieving the MPS version', { error: true })
  }
  try {
    const v = await get(rps('/api/v1/admin/version'))
    parts.push(`RPS ${v?.serviceVersion ?? '?'}`)
  } catch (error) {
    if (!error.handled) toast('Error retrieving the RPS version', { error: true })
  }
  if (uiVersion) parts.push(`UI ${uiVersion}`)
  el.textContent = parts.join(' · ')
}

function markNav (nav, path) {
  for (const a of nav.querySelectorAll('a')) {
    const href = a.getAttribute('href')
    const here = path === href || (href !== '/dashboard' && path.startsWith(href + '/')) || (href === '/dashboard' && path === '/')
    if (here) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  nav.classList.remove('open')
}

async function render () {
  const path = location.pathname
  const loggedIn = session.isLoggedIn()
  if (!loggedIn && path !== '/login') return navigate('/login', { replace: true })
  if (loggedIn && path === '/login') return navigate('/dashboard', { replace: true })

  if (current) {
    current.abort.abort()
    for (const fn of current.cleanups) fn()
  }
  const abort = new AbortController()
  const cleanups = []
  current = { abort, cleanups }
  const found = match(path)
  const ctx = {
    params: found?.params ?? {},
    query: new URLSearchParams(location.search),
    signal: abort.signal,
    cleanup: (fn) => cleanups.push(fn)
  }

  if (path === '/login') {
    shell = null
    live.stop()
    const node = await loginPage(ctx)
    fill(document.getElementById('app'), node)
    document.title = 'Log in · openamt'
    return
  }
  if (!shell) shell = buildShell()
  live.start()
  markNav(shell.nav, path)
  fill(shell.main, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'))
  let node
  try {
    node = found ? await found.handler(ctx) : notFound()
  } catch (error) {
    if (abort.signal.aborted || error?.name === 'AbortError') return
    node = h('div', {}, h('h1', { tabindex: '-1' }, 'Something went wrong'),
      h('div', { class: 'alert error', role: 'alert' }, error?.message ?? String(error)))
  }
  if (abort.signal.aborted) return
  fill(shell.main, node)
  const heading = shell.main.querySelector('h1')
  if (heading) {
    heading.setAttribute('tabindex', '-1')
    document.title = `${heading.textContent} · openamt`
    if (document.activeElement === document.body || !shell.main.contains(document.activeElement)) {
      heading.focus({ preventScroll: true })
    }
  }
}

function notFound () {
  return h('div', {}, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '/dashboard' }, 'Go to the dashboard')))
}

start(render)
