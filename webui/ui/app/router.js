// History-API routing: paths like /devices/<guid>, links handled without reloading, back/forward.
// The server answers every such path with index.html, so deep links and reloads work.

const routes = []
let onRoute = () => {}

/** route('/devices/:id', handler) */
export function route (pattern, handler) {
  const names = []
  const regex = new RegExp('^' + pattern.replace(/\/:([A-Za-z]+)/g, (_, name) => {
    names.push(name)
    return '/([^/]+)'
  }) + '/?$')
  routes.push({ regex, names, handler, pattern })
}

export function match (path) {
  for (const r of routes) {
    const m = r.regex.exec(path)
    if (m) {
      const params = {}
      r.names.forEach((name, i) => { params[name] = decodeURIComponent(m[i + 1]) })
      return { handler: r.handler, params, pattern: r.pattern }
    }
  }
  return null
}

export function navigate (path, { replace = false } = {}) {
  if (path === location.pathname + location.search) {
    onRoute()
    return
  }
  if (replace) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  onRoute()
}

export function start (render) {
  onRoute = render
  addEventListener('popstate', () => onRoute())
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    const a = event.target.closest?.('a[href]')
    if (!a || a.target || a.hasAttribute('download')) return
    const url = new URL(a.href, location.href)
    if (url.origin !== location.origin || !match(url.pathname)) return
    event.preventDefault()
    navigate(url.pathname + url.search)
  })
  onRoute()
}
