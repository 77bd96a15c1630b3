// Log in against MPS (/mps/login/api/v1/authorize behind the gateway); the body is stored as the
// reference stores it. 401 and 405 show MPS's own message.

import { h } from '../dom.js'
import { post, messageOf } from '../api.js'
import { loginUrl } from '../config.js'
import * as session from '../session.js'
import { navigate } from '../router.js'

export default function loginPage () {
  const notice = sessionStorage.getItem('loginMessage')
  sessionStorage.removeItem('loginMessage')
  const error = h('div', { class: 'alert error', role: 'alert', hidden: true })
  const info = notice ? h('div', { class: 'alert info', role: 'status' }, notice) : null
  const username = h('input', { id: 'username', name: 'username', type: 'text', autocomplete: 'username', required: true, autofocus: true })
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Log in')
  const form = h('form', {
    class: 'login',
    'aria-labelledby': 'login-title',
    on: {
      submit: async (event) => {
        event.preventDefault()
        error.hidden = true
        submit.disabled = true
        try {
          const body = await post(loginUrl, { username: username.value, password: password.value })
          session.store(body)
          navigate('/dashboard', { replace: true })
        } catch (e) {
          error.textContent = e.status === 401 || e.status === 405 || e.status === 400
            ? messageOf(e.status, e.body)
            : 'Login failed: the server could not be reached or answered unexpectedly.'
          error.hidden = false
          password.select()
        } finally {
          submit.disabled = false
        }
      }
    }
  },
  h('h1', { id: 'login-title' }, 'openamt'),
  info,
  error,
  h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), username),
  h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
  h('div', { class: 'actions' }, submit))
  return h('main', { class: 'login-page', id: 'main' }, form)
}
