// The login, kept as the reference keeps it: the whole login response body as a JSON string in
// localStorage["loggedInUser"]; the token is its `token`. Logged in = the key exists.

const KEY = 'loggedInUser'

export function token () {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? 'null')?.token ?? null
  } catch {
    return null
  }
}

export function isLoggedIn () {
  return localStorage.getItem(KEY) !== null
}

export function store (loginBody) {
  localStorage.setItem(KEY, JSON.stringify(loginBody))
}

export function clear () {
  localStorage.removeItem(KEY)
}
