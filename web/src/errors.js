// Errors of the icws browser client, the same kinds as the Go client's (package client).

/**
 * The checks of a message from the gateway, in the order they run. Each failed check is a
 * VerifyError with one of these kinds.
 * @typedef {'malformed'|'bad certificate'|'tampered'|'foreign'|'replay'|'gap'|'stale'|'future'|'withheld'} Kind
 */

/** @type {Readonly<Record<string, Kind>>} */
export const Kind = Object.freeze({
  /** The frame is not a cert message (S6), or its certified val (S4) does not decode. */
  MALFORMED: 'malformed',
  /** The certificate does not verify (signature, delegation, canister ranges, certified data). */
  BAD_CERTIFICATE: 'bad certificate',
  /** The witness is not the certified data, or does not certify SHA-256(val) under the key. */
  TAMPERED: 'tampered',
  /** A genuine message for another client. Not fatal. */
  FOREIGN: 'foreign',
  /** A genuine message of ours that was already delivered. Not fatal. */
  REPLAY: 'replay',
  /** A genuine message of ours that skips sequence numbers: messages were lost or withheld. */
  GAP: 'gap',
  /** The certificate or the message is older than allowed: it was delivered late. */
  STALE: 'stale',
  /** The certificate or the message is ahead of the local clock by more than allowed. */
  FUTURE: 'future',
  /**
   * The gateway holds messages back: no certified message came for heartbeatTimeoutMs (since the
   * socket opened, or since the last one), or the canister's acknowledgements show that a message sent
   * more than ackTimeoutMs ago never reached it (the Go client's Withheld).
   */
  WITHHELD: 'withheld',
});

/**
 * VerifyError is a message from the gateway that failed a check. The message was dropped:
 * nothing of it was returned. If fatal is false (foreign, replay) the connection goes on; if it
 * is true, the stream stopped and every later recv throws the same error.
 */
export class VerifyError extends Error {
  /**
   * @param {Kind} kind the check that failed
   * @param {string} key the certified-map key the frame named ('' if unreadable)
   * @param {string} detail what exactly failed
   * @param {{seq?: bigint|null, cause?: unknown}} [opts]
   */
  constructor(kind, key, detail, opts = {}) {
    let msg = `icws: message ${kind}`;
    if (key) msg += ` (key ${JSON.stringify(key)})`;
    if (detail) msg += `: ${detail}`;
    if (opts.cause !== undefined) msg += `: ${opts.cause instanceof Error ? opts.cause.message : String(opts.cause)}`;
    super(msg, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VerifyError';
    /** @type {Kind} */
    this.kind = kind;
    this.key = key;
    this.detail = detail;
    /** The message's sequence number, for checks that run after it was authenticated; else null. */
    this.seq = opts.seq ?? null;
  }

  /** Whether the stream ended: every kind but foreign and replay. */
  get fatal() {
    return this.kind !== Kind.FOREIGN && this.kind !== Kind.REPLAY;
  }
}

/** Reasons of the close codes (package protocol, docs/PROTOCOL.md). */
const CLOSE_REASONS = new Map([
  [1000, 'normal closure'],
  [1001, 'gateway going away'],
  [1006, 'connection lost'],
  [1009, 'message too big'],
  [1011, 'gateway internal error'],
  [4000, 'bad first message'],
  [4001, 'ws_open refused by the canister'],
  [4002, 'unknown canister'],
  [4003, 'too slow: client queue overflow'],
  [4004, 'rate limited'],
  [4005, 'handshake timeout'],
  [4006, 'too many bad messages'],
  [4007, 'canister unavailable'],
  [4008, 'session ended by the canister'],
  [4009, 'origin not allowed'],
]);

const RECONNECT = new Set([1001, 1011, 4003, 4004, 4005, 4007]);
const STOP = new Set([1000, 1009, 4000, 4001, 4002, 4006, 4008, 4009]);

/**
 * Whether a client seeing this close code should connect again. Unknown codes in 4000–4099
 * stop; other unknown codes (network failures, 1006) reconnect.
 * @param {number} code
 */
export function closeCodeReconnects(code) {
  if (RECONNECT.has(code)) return true;
  if (STOP.has(code)) return false;
  return code < 4000 || code > 4099;
}

/** @param {number} code */
export function closeCodeReason(code) {
  return CLOSE_REASONS.get(code) ?? `close code ${code}`;
}

/** CloseError is the end of the connection by the gateway or the network. */
export class CloseError extends Error {
  /** @param {number} code @param {string} reason */
  constructor(code, reason) {
    let msg = `icws: gateway closed the connection: ${code} (${closeCodeReason(code)})`;
    if (reason && reason !== closeCodeReason(code)) msg += `: ${reason}`;
    if (closeCodeReconnects(code)) msg += ' (reconnect)';
    super(msg);
    this.name = 'CloseError';
    this.code = code;
    this.reason = reason;
  }

  /** Whether connecting again can help. */
  get reconnect() {
    return closeCodeReconnects(this.code);
  }

  get fatal() {
    return true;
  }
}

/** CanisterClosedError is the canister's own end of the connection (a close service message). */
export class CanisterClosedError extends Error {
  /** @param {string} reason */
  constructor(reason) {
    super(`icws: the canister closed the connection: ${reason}`);
    this.name = 'CanisterClosedError';
    this.reason = reason;
  }

  get fatal() {
    return true;
  }
}

/** ClosedError is thrown by every method after close(). */
export class ClosedError extends Error {
  constructor() {
    super('icws: connection closed');
    this.name = 'ClosedError';
  }

  get fatal() {
    return true;
  }
}

/**
 * Whether moving the connection to a gateway (IcWebSocket.reconnect) can cure err: a connection
 * lost or closed with a code that says reconnect (the canister keeps the session for a while
 * after its gateway goes), a gap or withheld messages (a gateway that dropped or held back
 * messages; another gateway, or the same one again, delivers them). Not for a tampered message or
 * a bad certificate (a forging gateway: reconnect elsewhere, by hand), the canister's own end of
 * the connection, a close code that says stop, or close().
 * @param {unknown} err
 */
export function shouldReconnect(err) {
  if (err instanceof CloseError) return err.reconnect;
  if (err instanceof VerifyError) return err.kind === Kind.GAP || err.kind === Kind.WITHHELD;
  return false;
}

/**
 * Whether err ends the stream of recv: true for everything except a non-fatal VerifyError.
 * @param {unknown} err
 */
export function isFatal(err) {
  if (err instanceof ChannelError) return false;
  return !(err instanceof VerifyError) || err.fatal;
}

/**
 * ChannelError is thrown by recv (not fatal: the connection goes on) when a subscription ended
 * without the client asking, as the Go client's *client.ChannelError: the canister refused it
 * (reason is the application's), or the channel's stream had a gap (want is the next seq
 * expected, got the first that came: the client fell behind the canister's retention, and
 * those messages are lost). Call subscribe again to go on.
 */
export class ChannelError extends Error {
  /** @param {string} channel @param {{reason?: string, want?: bigint, got?: bigint}} opts */
  constructor(channel, opts) {
    const reason = opts.reason ?? '';
    super(reason
      ? `icws: channel ${JSON.stringify(channel)}: the canister refused the subscription: ${reason}`
      : `icws: channel ${JSON.stringify(channel)}: messages ${opts.want} to ${(opts.got ?? 0n) - 1n} are gone (the client fell behind the canister's retention); subscribe again`);
    this.name = 'ChannelError';
    this.channel = channel;
    this.reason = reason;
    /** For a gap: the next seq expected, and the first seq that came. */
    this.want = opts.want ?? 0n;
    this.got = opts.got ?? 0n;
  }
}

/**
 * The steps of connect, each of which a ConnectError names.
 * @typedef {'canister id'|'root key'|'register'|'open'} Stage
 */

/** ConnectError is a failure of connect (or reconnect's opening), naming the step that failed. */
export class ConnectError extends Error {
  /** @param {Stage} stage @param {string} message @param {{cause?: unknown, url?: string}} [opts] */
  constructor(stage, message, opts = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConnectError';
    /** @type {Stage} */
    this.stage = stage;
    /** The URL the step used (the IC's or the gateway's), if any. */
    this.url = opts.url ?? '';
  }

  get fatal() {
    return true;
  }
}

/** The close code of a gateway that refused the page's origin (docs/PROTOCOL.md). */
export const CLOSE_ORIGIN_NOT_ALLOWED = 4009;

/**
 * What an error of the client means for a person using the page: what was wrong and what to
 * do, in plain words, with the technical detail apart (to show one click away).
 * @param {unknown} err
 * @returns {{title: string, todo: string, detail: string}}
 */
export function explain(err) {
  const detail = err instanceof Error ? err.message : String(err);
  const r = (/** @type {string} */ title, /** @type {string} */ todo) => ({ title, todo, detail });
  if (err instanceof ConnectError) {
    switch (err.stage) {
      case 'canister id':
        return r('The canister id is not valid.', 'Use the id that icws dev prints for the canister (it ends in -cai), not its name.');
      case 'root key':
        return r("The page has no root key of the IC, so it cannot check any message.", 'Pass rootKey (icws dev serves it in /config.json), or fetchRootKey: true for a local replica only.');
      case 'register':
        return r(`The IC at ${err.url} did not register this client with the canister.`, 'Check that the IC runs (icws dev) and that the canister id is one it hosts.');
      case 'open':
        return r(`The gateway at ${err.url} did not accept the connection.`, 'Check that the gateway runs; if it does, it may refuse this page\'s origin: start it with --allowed-origins and this page\'s origin.');
    }
  }
  if (err instanceof CloseError) {
    if (err.code === CLOSE_ORIGIN_NOT_ALLOWED) {
      const here = globalThis.location?.origin;
      const origin = here && here !== 'null' ? here : 'http://127.0.0.1:5173';
      return r(`The gateway refused this page's origin${err.reason ? ` (${err.reason})` : ''}.`, `Start the gateway (icws gateway or icws dev) with --allowed-origins ${origin}, or serve this page from an origin the gateway allows.`);
    }
    if (err.reconnect) return r('The connection to the gateway was lost.', 'Reconnect (the page does so by itself when reconnection is on); if it keeps failing, check that the gateway runs.');
    return r(`The gateway ended the connection: ${closeCodeReason(err.code)}.`, 'Reload the page to connect again.');
  }
  if (err instanceof VerifyError) {
    if (err.kind === Kind.WITHHELD) return r('The IC or the gateway stopped answering: no message came in time.', 'Reconnect, through another gateway if you have one; if it keeps failing, check that the IC runs.');
    if (err.kind === Kind.BAD_CERTIFICATE) return r('A message carries an IC certificate this page cannot verify.', 'Check the root key: a local replica has its own (fetchRootKey or rootKey), mainnet needs neither.');
    if (err.kind === Kind.STALE || err.kind === Kind.FUTURE) return r('A message arrived with a time this page does not accept.', "Check this computer's clock, then reconnect.");
    if (!err.fatal) return r('A message not meant for this page was skipped.', 'Nothing to do.');
    return r(`A message failed the ${err.kind} check, so the gateway cannot be trusted.`, 'Reconnect, through another gateway if you have one.');
  }
  if (err instanceof CanisterClosedError) return r(`The canister ended the connection: ${err.reason}.`, 'Reload the page to connect again.');
  if (err instanceof ClosedError) return r('The connection is closed.', 'Connect again.');
  return r('Something went wrong.', 'See the detail.');
}
