// The event API of ic-websocket-js on top of the promise API of icws.js:
//
//   import IcWebSocket, { jsonCodec } from 'icws';
//   const ws = new IcWebSocket('ws://127.0.0.1:8080', undefined, {
//     canisterId: 'lxzze-o7777-77777-aaaaa-cai', networkUrl: 'http://127.0.0.1:4943',
//     fetchRootKey: true, codec: jsonCodec,
//   });
//   ws.onopen = () => ws.send({ text: 'hi' });
//   ws.onmessage = (ev) => console.log(ev.data); // decoded by the codec, verified
//   ws.onerror = (ev) => console.error(ev.error);
//   ws.onclose = (ev) => console.log(ev.code, ev.reason);
//
// With reconnect: true (or {attempts, minDelayMs, maxDelayMs, gateways}) in the config, a lost
// connection, a gap or withheld messages (shouldReconnect) move the session to the next gateway
// after a doubling wait, reported to onerror as not fatal with ev.reconnecting set; onclose comes
// only when the attempts run out or the failure is not one reconnecting cures.
//
// Every message it hands to onmessage went through IcWebSocket.recv's checks; nothing here
// speaks the protocol.
import { IDL } from '@dfinity/candid';

import { ClosedError, CloseError, isFatal, shouldReconnect } from './errors.js';

/**
 * The reconnection policy of the event API, off unless config.reconnect is given: true for the
 * defaults, or {attempts, minDelayMs, maxDelayMs, gateways}. Attempts in a row without a message
 * between them; waits doubling from minDelayMs to maxDelayMs; gateways tried in turn after the
 * first (default: the URL alone, the same gateway again).
 * @param {any} r @param {string} url
 * @returns {{attempts: number, minDelayMs: number, maxDelayMs: number, gateways: string[]}|null}
 */
function reconnectPolicy(r, url) {
  if (!r) return null;
  const o = r === true ? {} : r;
  if (typeof o !== 'object') throw new TypeError('icws: config.reconnect is true or {attempts, minDelayMs, maxDelayMs, gateways}');
  const gateways = o.gateways?.length ? [url, ...o.gateways.filter((/** @type {string} */ g) => g !== url)] : [url];
  return { attempts: o.attempts ?? 8, minDelayMs: o.minDelayMs ?? 500, maxDelayMs: o.maxDelayMs ?? 30_000, gateways };
}
import { IcWebSocket } from './icws.js';

/**
 * @template T
 * @typedef {{encode(value: T): Uint8Array, decode(bytes: Uint8Array): T}} Codec
 */

/** @type {Codec<Uint8Array>} the application's bytes as they are (the default) */
export const bytesCodec = Object.freeze({
  encode(v) {
    if (!(v instanceof Uint8Array)) throw new TypeError('icws: bytesCodec sends a Uint8Array; pass codec: jsonCodec or candidCodec(type) to send values');
    return v;
  },
  decode: (b) => b,
});

/** @type {Codec<any>} JSON as UTF-8 bytes */
export const jsonCodec = Object.freeze({
  encode: (v) => new TextEncoder().encode(JSON.stringify(v)),
  decode: (b) => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b)),
});

/**
 * A codec of one Candid type, such as IDL.Record({ text: IDL.Text }) (IDL of @dfinity/candid).
 * @param {import('@dfinity/candid').IDL.Type} type
 * @returns {Codec<any>}
 */
export function candidCodec(type) {
  if (!(type instanceof IDL.Type)) throw new TypeError('icws: candidCodec wants a Candid type, such as IDL.Record({ text: IDL.Text })');
  return Object.freeze({
    encode: (v) => new Uint8Array(IDL.encode([type], [v])),
    decode: (b) => IDL.decode([type], b)[0],
  });
}

/**
 * IcWebSocketEvents is the ic-websocket-js shape of a connection: new, then events. It is the
 * package's default export, so `import IcWebSocket from 'icws'` reads as with ic-websocket-js.
 */
export class IcWebSocketEvents {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  /** 0 connecting, 1 open, 2 closing, 3 closed, as WebSocket.readyState. */
  readyState = 0;
  /** @type {((ev: {type: 'open'}) => void)|null} */ onopen = null;
  /** @type {((ev: {type: 'message', data: any, message: import('./icws.js').Message}) => void)|null} */ onmessage = null;
  /** @type {((ev: {type: 'error', error: Error, fatal: boolean}) => void)|null} */ onerror = null;
  /** @type {((ev: {type: 'close', code: number, reason: string, wasClean: boolean, error: Error|null}) => void)|null} */ onclose = null;
  /** @type {IcWebSocket|null} */ #conn = null;
  /** @type {Codec<any>} */ #codec;
  #closeReason = '';

  /**
   * @param {string} url the gateway's WebSocket URL
   * @param {undefined} protocols always undefined (the gateway speaks one protocol)
   * @param {Omit<import('./icws.js').Options, 'gateway'> & {networkUrl?: string, codec?: Codec<any>}} config
   *   the options of IcWebSocket.connect; networkUrl is ic-websocket-js's name for ic
   */
  constructor(url, protocols, config) {
    if (protocols !== undefined) throw new TypeError('icws: the second argument (protocols) must be undefined: the gateway speaks one protocol');
    if (!config || typeof config !== 'object') throw new TypeError('icws: the third argument is the config: {canisterId, networkUrl, …}');
    /** The gateway's URL. */
    this.url = url;
    /** @type {bigint|null} the client id, once open */
    this.clientId = null;
    this.#codec = config.codec ?? bytesCodec;
    this.#run(url, config);
  }

  /** The promise API's connection under this one, once open (for recv-free extras such as acked). */
  get connection() {
    return this.#conn;
  }

  /**
   * @param {string} url
   * @param {any} config
   */
  async #run(url, config) {
    let conn;
    const policy = reconnectPolicy(config.reconnect, url);
    try {
      const { codec: _codec, networkUrl, reconnect: _reconnect, ...opts } = config;
      conn = await IcWebSocket.connect({ ...opts, gateway: url, ic: opts.ic ?? networkUrl });
    } catch (e) {
      this.#fail(/** @type {Error} */ (e));
      return;
    }
    if (this.readyState !== 0) {
      conn.close(this.#closeReason);
      return;
    }
    this.#conn = conn;
    this.clientId = conn.clientId;
    this.readyState = 1;
    this.#emit('onopen', { type: 'open' });
    let attempts = 0;
    for (;;) {
      let m;
      try {
        m = await conn.recv();
        attempts = 0;
      } catch (e) {
        if (e instanceof ClosedError) {
          this.#finish(1000, this.#closeReason, true, null);
          return;
        }
        if (!isFatal(e)) {
          this.#emit('onerror', { type: 'error', error: /** @type {Error} */ (e), fatal: false });
          continue;
        }
        if (policy && shouldReconnect(e) && attempts < policy.attempts && this.readyState === 1) {
          // The canister keeps the session for a while: move it, losing nothing; the failure
          // is reported as not fatal, and readyState stays open (send throws until the move is
          // done; what was sent and not confirmed before is sent again by the move).
          const gateway = policy.gateways[(attempts + 1) % policy.gateways.length];
          const wait = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** attempts);
          attempts++;
          this.#emit('onerror', { type: 'error', error: /** @type {Error} */ (e), fatal: false, reconnecting: { gateway, attempt: attempts, inMs: wait } });
          await new Promise((resolve) => { setTimeout(resolve, wait); });
          if (this.readyState !== 1) continue; // closed meanwhile: recv says so
          try {
            await conn.reconnect(gateway);
            this.url = gateway;
          } catch {
            // The socket did not open: recv fails again, and the next attempt waits longer.
          }
          continue;
        }
        this.#fail(/** @type {Error} */ (e));
        return;
      }
      let data;
      try {
        data = this.#codec.decode(m.payload);
      } catch (e) {
        const err = new Error(`icws: message ${m.seq} passed every check but the codec cannot decode it: ${e instanceof Error ? e.message : e}; check the codec option`, { cause: e });
        this.#emit('onerror', { type: 'error', error: err, fatal: false });
        continue;
      }
      this.#emit('onmessage', { type: 'message', data, message: m });
    }
  }

  /** @param {Error} e */
  #fail(e) {
    if (this.readyState === 3) return;
    this.#emit('onerror', { type: 'error', error: e, fatal: true });
    this.#conn?.close('failed');
    this.#finish(e instanceof CloseError ? e.code : 1006, e instanceof CloseError ? e.reason : e.message, false, e);
  }

  /** @param {number} code @param {string} reason @param {boolean} wasClean @param {Error|null} error */
  #finish(code, reason, wasClean, error) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#emit('onclose', { type: 'close', code, reason, wasClean, error });
  }

  /**
   * Calls a handler; what it throws is reported as an uncaught error, as EventTarget does, and
   * does not stop the connection.
   * @param {'onopen'|'onmessage'|'onerror'|'onclose'} name @param {any} ev
   */
  #emit(name, ev) {
    const h = this[name];
    if (typeof h !== 'function') return;
    try {
      h.call(this, { ...ev, target: this });
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }

  /**
   * Encodes value with the codec and sends it, signed, as the next message.
   * @param {any} value
   * @returns {bigint} its sequence number
   */
  send(value) {
    if (this.readyState !== 1 || !this.#conn) {
      throw new Error(`icws: send while the connection is ${['connecting', 'open', 'closing', 'closed'][this.readyState]}: send from onopen on`);
    }
    return this.#conn.send(this.#codec.encode(value));
  }

  /**
   * Closes the connection (code 1000); onclose follows.
   * @param {string} [reason]
   */
  close(reason = '') {
    if (this.readyState >= 2) return;
    this.#closeReason = reason;
    const conn = this.#conn;
    this.readyState = 2;
    if (conn) conn.close(reason);
    else this.#finish(1000, reason, true, null);
  }
}
