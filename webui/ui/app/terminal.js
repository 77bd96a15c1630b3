// A minimal serial terminal: a focusable <pre> that shows what the host's console prints (carriage
// return, line feed, backspace, tab and erase-line understood; other escape sequences dropped) and
// turns keys into the bytes a terminal would send.

import { h } from './dom.js'

const MAX_LINES = 2000

export class Terminal {
  constructor ({ label = 'Serial console', onInput = () => {} } = {}) {
    this.onInput = onInput
    this.lines = ['']
    this.col = 0
    this.escape = null // the escape sequence being read
    this.decoder = new TextDecoder('utf-8', { fatal: false })
    this.scheduled = false
    this.element = h('pre', {
      class: 'terminal',
      tabindex: '0',
      role: 'log',
      'aria-label': label,
      'aria-live': 'polite',
      on: {
        keydown: (e) => this.key(e),
        paste: (e) => {
          e.preventDefault()
          const text = e.clipboardData?.getData('text') ?? ''
          if (text) this.onInput(text.replace(/\r?\n/g, '\r'))
        }
      }
    })
  }

  focus () {
    this.element.focus()
  }

  /** Bytes from the host. */
  write (bytes) {
    const text = this.decoder.decode(bytes, { stream: true })
    for (const ch of text) this.put(ch)
    this.render()
  }

  put (ch) {
    if (this.escape !== null) {
      this.escape += ch
      if (this.escape.length === 1 && ch !== '[') { this.escape = null; return }
      if (/[@-~]/.test(ch) && this.escape.length > 1) {
        if (ch === 'K') this.lines[this.lines.length - 1] = this.current().slice(0, this.col)
        if (ch === 'J') { this.lines = ['']; this.col = 0 }
        this.escape = null
      }
      return
    }
    switch (ch) {
      case '\x1b': this.escape = ''; return
      case '\r': this.col = 0; return
      case '\n':
        this.lines.push('')
        this.col = 0
        if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES)
        return
      case '\b': this.col = Math.max(0, this.col - 1); return
      case '\t': this.put(' '.repeat(8 - (this.col % 8))); return
      case '\x07': return
    }
    if (ch.length > 1) { for (const c of ch) this.put(c); return }
    if (ch < ' ') return
    const line = this.current().padEnd(this.col, ' ')
    this.lines[this.lines.length - 1] = line.slice(0, this.col) + ch + line.slice(this.col + 1)
    this.col += 1
  }

  current () {
    return this.lines[this.lines.length - 1]
  }

  render () {
    if (this.scheduled) return
    this.scheduled = true
    requestAnimationFrame(() => {
      this.scheduled = false
      const atBottom = this.element.scrollTop + this.element.clientHeight >= this.element.scrollHeight - 4
      this.element.textContent = this.lines.join('\n')
      if (atBottom) this.element.scrollTop = this.element.scrollHeight
    })
  }

  /** What a terminal sends for a key. */
  key (e) {
    const special = {
      Enter: '\r',
      Backspace: '\x7f',
      Escape: '\x1b',
      ArrowUp: '\x1b[A',
      ArrowDown: '\x1b[B',
      ArrowRight: '\x1b[C',
      ArrowLeft: '\x1b[D',
      Home: '\x1b[H',
      End: '\x1b[F',
      Delete: '\x1b[3~'
    }
    let out = null
    if (e.ctrlKey && !e.altKey && !e.metaKey && e.key.length === 1) {
      const code = e.key.toUpperCase().charCodeAt(0)
      if (code >= 64 && code <= 95) out = String.fromCharCode(code - 64)
    } else if (special[e.key] !== undefined) {
      out = special[e.key]
    } else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey) {
      out = e.key
    }
    if (out === null) return // Tab keeps moving focus (Ctrl+I types a tab), so the terminal is no trap
    e.preventDefault()
    this.onInput(out)
  }
}
