// The icws demo page: a chat room on the chat canister, with rooms on certified channels, and the
// seed's ping-pong on echo. Every
// message shown passed the client's checks; a message that failed one is shown as rejected, with
// the check and the reason, and none of its content.
import { ChannelError, IcWebSocket, VerifyError, decodeAppMessage, decodeCborMap, encodeAppMessage, encodeCborMap, explain, isFatal, shouldReconnect } from './icws.js';

/** How many times the echo tab answers with "-pong" on its own. */
const PING_PONG_ROUNDS = 5;

/**
 * Reconnection: attempts in a row without a message in between, and the waits before them
 * (doubling from the first to the last; about two minutes in all).
 */
const RECONNECT_ATTEMPTS = 8;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 30_000;

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * @param {string} tag @param {Record<string, string>} [attrs] @param {...(Node|string)} children
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

/** @param {number} ms */
function delay(ms) {
  if (!Number.isFinite(ms)) return '?';
  return ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** One tab: a connection to one canister, its message list and its input box. */
class Room {
  /**
   * @param {string} name canister name in /config.json
   * @param {HTMLElement} section
   * @param {any} cfg the page config
   */
  constructor(name, section, cfg) {
    this.name = name;
    this.section = section;
    this.cfg = cfg;
    this.list = /** @type {HTMLOListElement} */ (section.querySelector('.messages'));
    this.status = /** @type {HTMLElement} */ (section.querySelector('.status'));
    this.form = /** @type {HTMLFormElement} */ (section.querySelector('form.compose'));
    this.input = /** @type {HTMLInputElement} */ (this.form.elements.namedItem('text'));
    this.button = /** @type {HTMLButtonElement} */ (this.form.querySelector('button'));
    /** @type {IcWebSocket|null} */
    this.conn = null;
    this.pongs = 0;
    /** @type {VerifyError|null} the last failure shown (recv repeats it until a reconnect) */
    this.lastRejected = null;
    /** whether the connection goes through the forging relay (the tamper switch) */
    this.tampering = false;
    /** @type {HTMLInputElement|null} */
    this.tamperBox = null;
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = this.input.value.trim();
      if (text === '') return;
      if (this.sendText(text)) this.input.value = '';
    });
    /** @type {HTMLSelectElement|null} where the compose box sends: '' everyone, else a room */
    this.to = this.form.querySelector('select[name="to"]');
    /** @type {HTMLFormElement|null} */
    this.roomForm = section.querySelector('form.rooms');
    this.roomForm?.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const box = /** @type {HTMLInputElement} */ (this.roomForm?.elements.namedItem('room'));
      if (this.joinRoom(box.value.trim())) box.value = '';
    });
    this.roomForm?.querySelector('button[name="leave"]')?.addEventListener('click', () => {
      if (this.to?.value) this.leaveRoom(this.to.value);
    });
    this.to?.addEventListener('change', () => this.roomButtons());
  }

  /**
   * Joins room name: subscribes to its certified channel room:<name> (the canister may refuse;
   * recv then throws a ChannelError, shown in the list) and makes it where the compose box sends.
   * @param {string} name
   */
  joinRoom(name) {
    if (!this.conn || !this.to) return false;
    if (!/^[A-Za-z0-9_.:/-]{1,59}$/.test(name)) {
      this.notice(`"${name}" is not a room name: 1 to 59 of A–Z a–z 0–9 - _ . : /`);
      return false;
    }
    if (![...this.to.options].some((o) => o.value === name)) {
      try {
        this.conn.subscribe(`room:${name}`);
      } catch (e) {
        const x = explain(e);
        this.notice(`Could not join #${name}. ${x.title} ${x.todo}`);
        return false;
      }
      this.to.append(el('option', { value: name }, `#${name}`));
      this.notice(`Joining #${name}: its messages come on a certified channel, checked once per frame.`);
    }
    this.to.value = name;
    this.roomButtons();
    return true;
  }

  /** Leaves room name (unsubscribes) and sends to everyone again. @param {string} name */
  leaveRoom(name) {
    if (!this.conn || !this.to) return;
    try {
      this.conn.unsubscribe(`room:${name}`);
    } catch (e) {
      const x = explain(e);
      this.notice(`Could not leave #${name}. ${x.title} ${x.todo}`);
      return;
    }
    for (const o of [...this.to.options]) if (o.value === name) o.remove();
    this.to.value = '';
    this.notice(`Left #${name}.`);
    this.roomButtons();
  }

  /** Enables the room controls for the connection's state and the selected target. */
  roomButtons() {
    if (!this.roomForm) return;
    const usable = this.section.dataset.state === 'open';
    for (const name of ['room', 'join']) {
      const e = /** @type {HTMLInputElement|HTMLButtonElement|null} */ (this.roomForm.elements.namedItem(name));
      if (e) e.disabled = !usable;
    }
    const leave = /** @type {HTMLButtonElement|null} */ (this.roomForm.elements.namedItem('leave'));
    if (leave) leave.disabled = !usable || !this.to?.value;
  }

  /** Adds a line of the page's own (not a canister message). @param {string} text */
  notice(text) {
    this.add(el('li', { class: 'notice', 'data-status': 'notice' }, el('div', { class: 'text' }, text)));
  }

  /** @param {string} state @param {string} text @param {string} [detail] shown one click away */
  setStatus(state, text, detail) {
    this.status.dataset.state = state;
    this.status.textContent = text;
    if (detail) this.status.append(' ', el('details', {}, el('summary', {}, 'Details'), el('pre', {}, detail)));
    this.section.dataset.state = state;
    const usable = state === 'open';
    this.input.disabled = !usable;
    this.button.disabled = !usable;
    this.roomButtons?.();
  }

  /** @param {HTMLElement} li */
  add(li) {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(li);
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  async run() {
    const id = this.cfg.canisters?.[this.name];
    if (!id) {
      this.setStatus('failed', `No canister named ${this.name} in /config.json.`);
      return;
    }
    try {
      this.conn = await IcWebSocket.connect({
        gateway: this.cfg.gateway,
        ic: this.cfg.ic,
        canisterId: id,
        rootKey: this.cfg.rootKey || undefined,
        fetchRootKey: this.cfg.fetchRootKey,
      });
    } catch (e) {
      const x = explain(e);
      this.setStatus('failed', `Could not connect. ${x.title} ${x.todo}`, x.detail);
      return;
    }
    this.section.dataset.clientId = String(this.conn.clientId);
    const connected = `Connected to ${this.name} (${id}) as client ${this.conn.clientId}, through ${this.cfg.gateway}.`;
    this.setStatus('open', connected);
    this.setupTamper();
    let attempts = 0;
    for (;;) {
      let msg;
      try {
        msg = await this.conn.recv();
      } catch (e) {
        // recv reports a failure again until a reconnect succeeds: the message is shown once.
        // A replay is a genuine message shown already (a reconnection's overlap): nothing to show.
        if (e instanceof VerifyError && e.kind !== 'replay' && e !== this.lastRejected) {
          this.lastRejected = e;
          this.showRejected(e);
        }
        if (e instanceof ChannelError) {
          // A refused subscription, or a channel that fell behind: the room is left.
          const room = e.channel.replace(/^room:/, '');
          for (const o of [...(this.to?.options ?? [])]) if (o.value === room) o.remove();
          if (this.to) this.to.value = '';
          this.roomButtons();
          this.notice(`#${room}: ${e.message}`);
          continue;
        }
        if (!isFatal(e)) continue;
        if (this.tampering && e instanceof VerifyError && e.kind === 'tampered') {
          // The forging relay did what it is for: back to the honest gateway, which delivers
          // the genuine message (the canister kept it: the page never acknowledged it).
          this.tampering = false;
          if (this.tamperBox) this.tamperBox.checked = false;
          this.setStatus('reconnecting', 'The relay forged a message and the page rejected it (above). Back to the gateway, which delivers the genuine one…');
          try {
            await this.conn.reconnect(this.cfg.gateway);
            this.setStatus('open', connected);
          } catch {
            // recv fails again, and the page stops with the forged message's error.
          }
          continue;
        }
        if (!shouldReconnect(e) || attempts >= RECONNECT_ATTEMPTS) {
          this.stopped(e);
          return;
        }
        // The canister keeps the session for a while: reconnecting loses nothing, and what it
        // had not confirmed is sent again. Sending waits (the input is off) until then.
        attempts++;
        const wait = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** (attempts - 1));
        const x = explain(e);
        this.setStatus('reconnecting', `${x.title} Reconnecting in ${delay(wait)} (attempt ${attempts} of ${RECONNECT_ATTEMPTS})…`, x.detail);
        await sleep(wait);
        try {
          await this.conn.reconnect(this.cfg.gateway);
          this.setStatus('open', connected);
        } catch {
          // The socket did not open: the next recv fails again, and the next attempt waits longer.
        }
        continue;
      }
      attempts = 0;
      this.showVerified(msg);
    }
  }

  /**
   * Shows the tamper switch when the page's server has a forging relay (icws dev): checking it
   * moves the connection there, unchecking it back to the gateway.
   */
  setupTamper() {
    const label = /** @type {HTMLElement|null} */ (this.section.querySelector('label.tamper'));
    const box = /** @type {HTMLInputElement|null} */ (this.section.querySelector('input[name="tamper"]'));
    if (!label || !box || !this.cfg.tamper) return;
    this.tamperBox = box;
    label.hidden = false;
    const base = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${this.cfg.tamper}`;
    box.addEventListener('change', async () => {
      if (!this.conn) return;
      this.tampering = box.checked;
      // The relay forges the first message the page has not had yet (the canister sends again
      // what the page has not acknowledged; those the page skips).
      const relay = `${base}?from=${this.conn.received}`;
      try {
        if (box.checked) {
          await this.conn.reconnect(relay);
          this.setStatus('open', `Connected through the forging relay ${base}: it will change one byte of the next message.`);
        } else {
          await this.conn.reconnect(this.cfg.gateway);
          this.setStatus('open', `Connected through ${this.cfg.gateway}.`);
        }
      } catch (e) {
        const x = explain(e);
        this.setStatus('failed', `Could not switch. ${x.title} ${x.todo}`, x.detail);
      }
    });
  }

  /** @param {unknown} e */
  stopped(e) {
    const x = explain(e);
    this.setStatus('failed', `Stopped. ${x.title} ${x.todo}`, x.detail);
  }

  /** @param {string} text */
  sendText(text) {
    if (!this.conn) return false;
    try {
      const room = this.to?.value ?? '';
      const seq = this.conn.send(room ? encodeCborMap([['room', room], ['text', text]]) : encodeAppMessage(text));
      if (this.name === 'echo') {
        this.add(el('li', { class: 'sent', 'data-status': 'sent', 'data-seq': String(seq) },
          el('div', { class: 'meta' }, el('span', { class: 'from' }, 'you'), ` · seq ${seq} · signed`),
          el('div', { class: 'text' }, text),
          el('span', { class: 'mark' }, '→ sent')));
      }
      return true;
    } catch (e) {
      const x = explain(e);
      this.setStatus('failed', `Could not send. ${x.title} ${x.todo}`, x.detail);
      return false;
    }
  }

  /**
   * What a payload says: the chat room's {text, from}, {join} or {leave}, or echo's {text}.
   * @param {Uint8Array} payload
   * @returns {{from: string, text: string, notice: boolean}|null}
   */
  describe(payload) {
    const who = (/** @type {bigint} */ id) => (this.conn && id === this.conn.clientId ? 'you' : `client ${id}`);
    try {
      if (this.name === 'echo') return { from: 'echo canister', text: decodeAppMessage(payload).text, notice: false };
      const m = decodeCborMap('chat message', payload, { text: 'text', from: 'uint', join: 'uint', leave: 'uint', room: 'text' }, []);
      if (typeof m.text === 'string' && typeof m.from === 'bigint') {
        const where = typeof m.room === 'string' ? ` in #${m.room}` : '';
        return { from: `${who(m.from)}${where}`, text: m.text, notice: false };
      }
      if (typeof m.join === 'bigint') return { from: 'chat room', text: `${who(m.join)} joined`, notice: true };
      if (typeof m.leave === 'bigint') return { from: 'chat room', text: `${who(m.leave)} left`, notice: true };
    } catch {
      // shown as undecodable below
    }
    return null;
  }

  /** @param {import('./icws.js').Message} msg */
  showVerified(msg) {
    const d = this.describe(msg.payload);
    const seq = msg.channel ? `${msg.channel} seq ${msg.seq}` : `seq ${msg.seq}`;
    const meta = el('div', { class: 'meta' }, el('span', { class: 'from' }, d ? d.from : this.name),
      ` · ${seq} · ${delay(msg.delayMs)}`);
    const text = d ? d.text : `(${msg.payload.length} bytes this page cannot read)`;
    /** @type {Record<string, string>} */
    const attrs = { class: d?.notice ? 'verified announcement' : 'verified', 'data-status': 'verified',
      'data-seq': String(msg.seq), title: `key ${msg.key}` };
    if (msg.channel) attrs['data-channel'] = msg.channel;
    const li = el('li', attrs, meta, el('div', { class: 'text' }, text), el('span', { class: 'mark' }, '✓ verified'));
    this.add(li);
    if (this.name === 'echo' && d && this.autoReply() && this.pongs < PING_PONG_ROUNDS) {
      this.pongs++;
      this.sendText(`${d.text}-pong`);
    }
  }

  autoReply() {
    const box = /** @type {HTMLInputElement|null} */ (this.section.querySelector('input[name="autoreply"]'));
    return Boolean(box?.checked);
  }

  /** @param {VerifyError} e */
  showRejected(e) {
    const meta = el('div', { class: 'meta' }, el('span', { class: 'from' }, 'unknown sender'));
    if (e.seq !== null) meta.append(` · seq ${e.seq}`);
    if (e.key) meta.append(` · key …${e.key.slice(-20)}`);
    const li = el('li', { class: 'rejected', 'data-status': 'rejected', 'data-kind': e.kind, title: e.message },
      meta,
      el('div', { class: 'text' }, `Rejected: ${WHY[e.kind] ?? e.detail}. Its content is not shown.`),
      el('span', { class: 'mark' }, `✗ rejected: ${e.kind}`));
    this.add(li);
  }
}

/** What each failed check means, in plain words. */
const WHY = {
  'malformed': 'it is not a well-formed message',
  'bad certificate': 'its IC certificate does not verify',
  'tampered': 'it does not match what the IC certified, so the gateway changed it',
  'foreign': 'it is addressed to another client',
  'replay': 'it was already delivered',
  'gap': 'messages before it are missing',
  'stale': 'it arrived too late',
  'future': "its time is ahead of this computer's clock",
};

function setupTabs() {
  const tabs = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('[role="tab"]')]);
  const select = (/** @type {HTMLButtonElement} */ tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      const panel = document.getElementById(t.getAttribute('aria-controls') ?? '');
      if (panel) panel.hidden = !on;
    }
  };
  for (const t of tabs) t.addEventListener('click', () => select(t));
  const wanted = new URLSearchParams(location.search).get('tab');
  const initial = tabs.find((t) => t.id === `tab-${wanted}`);
  if (initial) select(initial);
}

async function main() {
  setupTabs();
  /** @type {any} */
  let cfg;
  try {
    const res = await fetch('/config.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    cfg = await res.json();
  } catch (e) {
    for (const s of document.querySelectorAll('.status')) {
      s.setAttribute('data-state', 'failed');
      s.textContent = `Could not read /config.json: ${e instanceof Error ? e.message : e}`;
    }
    return;
  }
  const endpoints = document.getElementById('endpoints');
  if (endpoints) endpoints.textContent = `IC ${cfg.ic} · gateway ${cfg.gateway}`;
  const rooms = [
    new Room('chat', /** @type {HTMLElement} */ (document.getElementById('room-chat')), cfg),
    new Room('echo', /** @type {HTMLElement} */ (document.getElementById('room-echo')), cfg),
  ];
  // The echo tab starts on a click: nothing plays by itself.
  const start = /** @type {HTMLButtonElement|null} */ (document.querySelector('#room-echo button.start'));
  const echo = rooms[1];
  echo.setStatus('idle', 'Press Start to connect to the echo canister: it greets with "ping".');
  start?.addEventListener('click', () => {
    start.hidden = true;
    echo.setStatus('connecting', 'Connecting…');
    echo.run();
  }, { once: true });
  await rooms[0].run();
}

main();
