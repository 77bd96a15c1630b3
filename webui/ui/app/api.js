// Every REST call the UI makes goes through here, with the reference Sample Web UI's rules:
// - `Authorization: Bearer <token>` on everything except the login (URLs containing /authorize),
//   but including /authorize/redirection;
// - `If-Match: <version>` when a JSON body carries a non-empty `version` (RPS optimistic concurrency);
// - 401 → logged out and back to the login page, with "session timed out" when the gateway says
//   {"exp":"token expired"}; 409/412 → "item was modified"; 504 → "device not responding".

import * as session from './session.js'

export class ApiError extends Error {
  constructor (status, body, url) {
    super(messageOf(status, body))
    this.status = status
    this.body = body
    this.url = url
    /** Already shown to the user by the shared handling below. */
    this.handled = false
  }
}

/** The API's own words for a failure: errors[].msg, message, error, or the status. */
export function messageOf (status, body) {
  if (body && typeof body === 'object') {
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      return body.errors.map((e) => e.msg).filter(Boolean).join('; ')
    }
    if (typeof body.message === 'string' && body.message) return body.message
    if (typeof body.errorDescription === 'string' && body.errorDescription) return body.errorDescription
    if (typeof body.error === 'string' && body.error) return body.error
  }
  if (typeof body === 'string' && body && body.length < 200 && !body.includes('<')) return body
  return status === 0 ? 'The server could not be reached' : `Request failed (${status})`
}

/** Set by main.js: what a 401, a 409/412 and a 504 do. */
export const handlers = {
  unauthorized: (_body) => {},
  conflict: (_body) => {},
  timeout: () => {}
}

function needsToken (url) {
  return !url.includes('/authorize') || url.includes('/authorize/redirection')
}

/**
 * request('GET', url) → parsed JSON (or text); throws ApiError.
 * Options: body (JSON), text (expect a text answer), signal.
 */
export async function request (method, url, { body, text = false, signal } = {}) {
  const headers = { Accept: text ? 'text/plain, */*' : 'application/json' }
  const token = session.token()
  if (token && needsToken(url)) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    const version = body?.version
    if (version !== undefined && version !== null && version !== '') headers['If-Match'] = String(version)
  }
  let response
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal
    })
  } catch (error) {
    if (error?.name === 'AbortError') throw error
    throw new ApiError(0, null, url)
  }
  const raw = await response.text()
  let parsed = raw
  if (!text && raw) {
    try { parsed = JSON.parse(raw) } catch { parsed = raw }
  }
  if (response.ok) return raw === '' && !text ? null : parsed

  const error = new ApiError(response.status, parsed, url)
  if (response.status === 401 && needsToken(url)) {
    error.handled = true
    handlers.unauthorized(parsed)
  } else if (response.status === 409 || response.status === 412) {
    error.handled = true
    handlers.conflict(parsed)
  } else if (response.status === 504) {
    error.handled = true
    handlers.timeout()
  }
  throw error
}

export const get = (url, options) => request('GET', url, options)
export const post = (url, body, options) => request('POST', url, { ...options, body })
export const patch = (url, body, options) => request('PATCH', url, { ...options, body })
export const put = (url, body, options) => request('PUT', url, { ...options, body })
export const del = (url, options) => request('DELETE', url, options)
