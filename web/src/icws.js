// icws browser client: a WebSocket to an Internet Computer canister through an icws gateway
// that relays messages and cannot forge them. The same API shape and the same checks as the Go
// client (package client):
//
//   import { IcWebSocket } from './icws.js';
//   const conn = await IcWebSocket.connect({
//     gateway: 'ws://127.0.0.1:8080',
//     ic: 'http://127.0.0.1:4943',
//     canisterId: 'lxzze-o7777-77777-aaaaa-cai',
//     fetchRootKey: true, // a local replica only; leave unset for mainnet
//   });
//   conn.send(encodeAppMessage('hi')); // bytes; {text} is what echo and chat take
//   const msg = await conn.recv(); // {seq, timestamp, received, delayMs, payload, key}
//   conn.close('bye');
//
// connect registers a fresh Ed25519 key with the canister (ws_register, through @dfinity/agent),
// opens the WebSocket and sends the signed first message, with a fresh open nonce (so that no
// gateway can replay it). send paces itself to the gateway's limits (pacer.js). recv returns a
// canister message only after every check passed (see verify.js): certificate, witness, client
// id, sequence number, timestamp. A failed check throws a VerifyError naming it; foreign and
// replay are not fatal (call recv again), every other kind is: the stream stopped, and recv keeps
// throwing it, until reconnect(gateway) moves the connection to a gateway (the same or another)
// with the same key and client id, like the Go client's Conn.Reconnect: nothing is lost or
// repeated in either direction.

import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';
import { ed25519 } from '@noble/curves/ed25519';

import { CLOSE_ORIGIN_NOT_ALLOWED, CanisterClosedError, ChannelError, CloseError, ClosedError, ConnectError, Kind, explain, VerifyError, closeCodeReason, closeCodeReconnects, isFatal, shouldReconnect } from './errors.js';
import { ACK_INTERVAL, FALLBACK_INTERVAL_MS, MAX_PENDING_BYTES, MAX_PENDING_FRAMES, MESSAGE_BURST, MESSAGE_RATE, Pacer } from './pacer.js';
import { MAINNET_HOSTS, isMainnetHost } from './mainnet.js';
import { Verifier, channelKey } from './verify.js';
import {
  CHANNEL_NAME,
  decodeChannelFrame,
  decodeChannelStatus,
  encodeChannelControl,
  isChannelFrame,
  isBatchFrame,
  BATCH_FRAMES,
  decodeAppMessage,
  decodeCborMap,
  encodeAppMessage,
  encodeCborMap,
  encodeClientMessage,
  encodeClientWebsocketMessage,
  encodeFirstMessage,
  encodeSignedFirstMessage,
  nextOpenNonce,
} from './wire.js';

export { CLOSE_ORIGIN_NOT_ALLOWED, CanisterClosedError, ChannelError, CloseError, ClosedError, ConnectError, Kind, explain, VerifyError, closeCodeReason, closeCodeReconnects, isFatal, shouldReconnect };
export { decodeAppMessage, decodeCborMap, encodeAppMessage, encodeCborMap };
export { Verifier };
export { MAINNET_HOSTS, isMainnetHost };
export { ACK_INTERVAL, FALLBACK_INTERVAL_MS, MAX_PENDING_BYTES, MAX_PENDING_FRAMES, MESSAGE_BURST, MESSAGE_RATE, Pacer };

/** Defaults of the connection options. */
export const DEFAULT_OPEN_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_QUEUED = 10_000;
export const DEFAULT_MAX_UNSENT = 10_000;
/**
 * How long recv waits for a certified message, from the opening of the socket and then from the
 * last one, before it fails with withheld: two heartbeat intervals (30 s each) and a network
 * allowance, as the Go client's DefaultHeartbeatTimeout.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 75_000;
/**
 * How long a subscribed channel may stay behind a head the canister reported (in the heads of
 * its certified service messages) before recv fails with withheld: a poll, a query and a
 * canister tick, as the Go client's DefaultChannelGrace.
 */
export const DEFAULT_CHANNEL_GRACE_MS = 10_000;
/**
 * The acknowledgement bound when heartbeatTimeoutMs is negative: how long after a message was
 * written a certified heartbeat may still not acknowledge it before recv fails with withheld
 * (one heartbeat interval, 30 s). Otherwise the default is 2/5 of heartbeatTimeoutMs (the same
 * 30 s with DEFAULT_HEARTBEAT_TIMEOUT_MS), as the Go client's Config.AckTimeout.
 */
export const DEFAULT_ACK_TIMEOUT_MS = 30_000;


const registerIdl = ({ IDL: I }) => I.Service({ ws_register: I.Func([I.Vec(I.Nat8)], [I.Nat64], []) });

/**
 * @typedef {object} Message a canister message that passed every check
 * @property {bigint} seq the message's sequence number (0, 1, 2, … with service messages left out)
 * @property {bigint} timestamp IC time at which the canister queued it, ns since the epoch
 * @property {number} received local time at which it was verified, ms since the epoch
 * @property {number} delayMs how long it took from the canister's queue to the client
 * @property {Uint8Array} payload the application's bytes
 * @property {string} key its key in the canister's certified map
 * @property {string} [channel] for a message of a certified channel (subscribe): its name; seq
 *   is then the channel's sequence number
 */

/**
 * @typedef {object} Options
 * @property {string} gateway the gateway's WebSocket URL, ws:// or wss://
 * @property {string} [ic] the IC's URL, for ws_register (not needed with agent)
 * @property {string|Principal} canisterId
 * @property {Uint8Array|string} [rootKey] the IC's DER root key (bytes or hex); default: the
 *   agent's (the mainnet key, or the fetched one with fetchRootKey)
 * @property {boolean} [fetchRootKey] read the root key from the IC: local replicas only, it
 *   trusts the network path; refused for the mainnet API hosts
 * @property {import('@dfinity/agent').HttpAgent} [agent] makes ws_register (its identity owns
 *   the client) and supplies the root key
 * @property {import('@dfinity/agent').Identity} [identity] signs ws_register; default anonymous
 * @property {Uint8Array} [key] the client's 32-byte Ed25519 secret key; default a new random one
 * @property {number} [maxMessageAgeMs] default 2 minutes
 * @property {number} [maxCertificateAgeMs] default 5 minutes
 * @property {number} [maxClockSkewMs] default 30 seconds
 * @property {number} [openTimeoutMs] bounds the WebSocket opening; default 10 s
 * @property {number} [maxQueued] frames that may wait for recv before the connection is given up
 * @property {number} [maxUnsent] messages send may keep until the canister acknowledges them
 *   (queued while the gateway's limits hold them back, or written and kept for reconnect to send
 *   again; default 10 000); beyond that send throws (with a canister that never acknowledges,
 *   the oldest written one is dropped instead)
 * @property {number} [heartbeatTimeoutMs] recv fails with a withheld VerifyError when no
 *   certified message arrives for this long, counted from the opening of the socket (an icws
 *   canister confirms the open with its first heartbeat) and then from the last one; default
 *   75 s, negative never (needed for a canister that sends no heartbeats)
 * @property {number} [ackTimeoutMs] the acknowledgement bound: recv fails with withheld when a
 *   certified heartbeat whose IC time is more than this after a message was written (or, for one
 *   written behind others still unacknowledged, after the canister accepted the one before it:
 *   the heartbeat's ack_time) does not acknowledge it; default 2/5 of heartbeatTimeoutMs (30 s), negative never
 * @property {number} [channelGraceMs] how long a channel may stay behind a head the canister
 *   reported before recv fails with withheld; default 10 s
 * @property {boolean} [batchFrames] ask the gateway, at every open, for S9 batched frames
 *   (docs/PROTOCOL.md §13): one frame per poll batch with all of its messages for this client,
 *   the certificate and witness once, every message checked as in an S6; default true, false for
 *   S6 frames only. A gateway that does not know S9 sends S6 frames, which are read as well.
 * @property {() => number} [now] the clock (ms); tests only
 * @property {typeof WebSocket} [WebSocket] the WebSocket class; default globalThis.WebSocket
 */

/** @param {Uint8Array|string} k */
function rootKeyBytes(k) {
  if (k instanceof Uint8Array) return k;
  if (typeof k === 'string' && /^([0-9a-f]{2})+$/i.test(k)) return Uint8Array.from(k.match(/../g) ?? [], (h) => parseInt(h, 16));
  throw new TypeError('rootKey: want bytes or hex');
}

/**
 * Opens a WebSocket and resolves once it is open.
 * @param {typeof WebSocket} WS @param {string} url @param {number} timeoutMs
 * @returns {Promise<WebSocket>}
 */
function openWebSocket(WS, url, timeoutMs) {
  const ws = new WS(url);
  ws.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close();
      reject(new ConnectError('open', `icws: failed to open a WebSocket to ${url}: no answer in ${timeoutMs} ms`, { url }));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onclose = (ev) => {
      clearTimeout(timer);
      reject(ev.code === CLOSE_ORIGIN_NOT_ALLOWED ? new CloseError(ev.code, ev.reason) : new ConnectError('open', `icws: failed to open a WebSocket to ${url}: closed with ${ev.code} ${ev.reason}`.trim(), { url }));
    };
    ws.onerror = () => {}; // onclose follows with the details browsers give
  });
}

/** @param {string} url */
function checkGatewayUrl(url) {
  let gw;
  try {
    gw = new URL(url);
  } catch {
    throw new TypeError(`icws: gateway ${JSON.stringify(url)} is not a URL`);
  }
  if (gw.protocol !== 'ws:' && gw.protocol !== 'wss:') throw new TypeError(`icws: gateway ${url}: want ws:// or wss://`);
}

/**
 * One WebSocket to a gateway.
 * @typedef {object} Socket
 * @property {WebSocket} ws
 * @property {string} gateway its URL
 * @property {bigint|null} floor the next expected sequence number when recv read its first
 *   frame: messages below it came through earlier sockets (null: nothing read yet)
 * @property {boolean} proven a message of ours arrived through it
 */

/** IcWebSocket is a verified connection to a canister through a gateway. Make one with connect. */
export class IcWebSocket {
  /** @type {Socket} the socket in use */ #sock;
  /** @type {Socket[]} sockets reconnect replaced, open until the new one proves itself */ #retired = [];
  /** @type {Uint8Array} */ #secret;
  /** @type {Verifier} */ #v;
  /** @type {{sock: Socket, data: Uint8Array}[]} */ #frames = [];
  /**
   * The outcomes of the S9 frame being delivered, in order, not yet returned by recv: verified
   * (the verifier's next is past them already, so they are delivered even across reconnect) or
   * the error to report.
   * @type {{sock: Socket, vm?: import('./verify.js').Verified, err?: unknown}[]}
   */
  #batchq = [];
  #batchFrames;
  /** @type {Error|null} the socket's end (its close, or a local reason) */ #sockErr = null;
  /** @type {Error|null} a fatal error of recv */ #failed = null;
  /** @type {(() => void)|null} */ #wake = null;
  /** @type {Promise<unknown>} */ #tail = Promise.resolve();
  #nextOut = 0n;
  #acked = 0n;
  #openNonce = 0n;
  #closed = false;
  #maxQueued;
  #maxUnsent;
  #now;
  /** @type {Pacer} */ #pacer;
  /**
   * @type {{seq: bigint, frame: Uint8Array, app: boolean, sentAt?: number, behind?: boolean}[]} numbered and signed, not yet acknowledged by the
   * canister (written or not), consecutive, in order; kept to be sent again after reconnect
   */
  #unacked = [];
  /** every message below this was written through the current socket (or acknowledged) */
  #written = 0n;
  /** from reconnect until the canister's acknowledgement through the new gateway: nothing is written */
  #resyncing = false;
  /** IC time (ns) from which a canister acknowledgement reflects the reconnection */
  #resyncSince = 0n;
  /** @type {ReturnType<typeof setTimeout>|null} */ #pumpTimer = null;
  /** @type {typeof WebSocket} */ #WS;
  #openTimeoutMs;
  #heartbeatTimeoutMs;
  #ackTimeoutMs;
  /**
   * The IC time (ms) the canister accepted message #acked − 1: the ack_time of the service message
   * that first acknowledged it (its own time, from a canister without ack_time).
   */
  #ackedAt = -Infinity;
  /** local time (ms) of the last certified frame through the socket in use, or of its opening */
  #lastHeard = 0;
  /** @type {Promise<unknown>} */ #reconnectTail = Promise.resolve();
  /**
   * The channel subscriptions (docs/PROTOCOL.md §12): confirmed once the canister's certified
   * status said where the stream starts; next is the next seq expected; behindHead, above next,
   * a head a certified status reported at behindSince (ms); resuming after reconnect
   * resubscribed from next (frames past next are dropped until one reaches next).
   * @type {Map<string, {confirmed: boolean, next: bigint, behindHead: bigint, behindSince: number, resuming: boolean}>}
   */
  #subs = new Map();
  /** @type {Message[]} verified channel messages not yet returned by recv */ #chPending = [];
  /** How many channel frames were dropped (not subscribed, or while resuming). */
  channelFramesDropped = 0;
  #channelGraceMs;

  /** @private */
  constructor(ws, secret, verifier, clientId, canisterId, opts) {
    this.#sock = { ws, gateway: opts.gateway, floor: null, proven: false };
    this.#WS = opts.WebSocket ?? globalThis.WebSocket;
    this.#openTimeoutMs = opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    this.#batchFrames = opts.batchFrames ?? true;
    this.#secret = secret;
    this.#v = verifier;
    this.#maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.#maxUnsent = opts.maxUnsent ?? DEFAULT_MAX_UNSENT;
    this.#now = opts.now ?? (() => Date.now());
    this.#pacer = new Pacer({ now: this.#now });
    this.#heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? (this.#heartbeatTimeoutMs >= 0 ? this.#heartbeatTimeoutMs * 2 / 5 : DEFAULT_ACK_TIMEOUT_MS);
    this.#channelGraceMs = opts.channelGraceMs ?? DEFAULT_CHANNEL_GRACE_MS;
    this.#lastHeard = this.#now();
    /** The client id the canister gave in ws_register. */
    this.clientId = /** @type {bigint} */ (clientId);
    /** @type {Principal} */
    this.canisterId = canisterId;
    /** The client's Ed25519 public key. */
    this.publicKey = ed25519.getPublicKey(secret);
    /** The URL of the gateway in use (reconnect changes it). */
    this.gateway = opts.gateway;
    this.#attach(this.#sock);
  }

  /**
   * Registers a client with the canister and connects through the gateway. It resolves once the
   * first message is written; a refusal by the gateway or the canister is reported by recv as a
   * CloseError whose code says why.
   * @param {Options} opts
   * @returns {Promise<IcWebSocket>}
   */
  static async connect(opts) {
    const WS = opts.WebSocket ?? globalThis.WebSocket;
    checkGatewayUrl(opts.gateway);
    if (!opts.canisterId) throw new TypeError('icws: canisterId is empty');
    let canisterId;
    try {
      canisterId = typeof opts.canisterId === 'string' ? Principal.fromText(opts.canisterId) : opts.canisterId;
    } catch (e) {
      throw new ConnectError('canister id', `icws: canisterId ${JSON.stringify(opts.canisterId)} is not a canister id: ${e instanceof Error ? e.message : e}`, { cause: e });
    }
    if (!opts.agent && !opts.ic) throw new TypeError('icws: ic (the IC URL, for ws_register) is empty');
    if (!opts.agent && !URL.canParse(opts.ic ?? '')) throw new TypeError(`icws: ic ${JSON.stringify(opts.ic)} is not a URL`);
    if (opts.key && opts.key.length !== 32) throw new TypeError(`icws: key is ${opts.key.length} bytes, want a 32-byte Ed25519 secret key`);
    if (!opts.agent && opts.fetchRootKey && isMainnetHost(new URL(opts.ic ?? '').hostname)) {
      throw new TypeError(`icws: ${opts.ic} is the IC mainnet: its root key is built in; drop fetchRootKey`);
    }

    const agent = opts.agent ?? await HttpAgent.create({
      host: opts.ic,
      identity: opts.identity,
      rootKey: opts.rootKey === undefined ? undefined : rootKeyBytes(opts.rootKey),
      shouldFetchRootKey: Boolean(opts.fetchRootKey) && opts.rootKey === undefined,
    });
    const rootKey = opts.rootKey !== undefined ? rootKeyBytes(opts.rootKey) : agent.rootKey;
    if (!rootKey) throw new ConnectError('root key', 'icws: no root key of the IC: pass rootKey, or fetchRootKey for a local replica');

    const secret = opts.key ?? ed25519.utils.randomSecretKey();
    const publicKey = ed25519.getPublicKey(secret);
    let clientId;
    try {
      const actor = Actor.createActor(registerIdl, { agent, canisterId });
      clientId = /** @type {bigint} */ (await actor.ws_register(publicKey));
    } catch (e) {
      throw new ConnectError('register', `icws: failed to register with canister ${canisterId.toText()} (ws_register): ${e instanceof Error ? e.message : e}`, { cause: e, url: opts.ic ?? '' });
    }

    const ws = await openWebSocket(WS, opts.gateway, opts.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS);

    const v = new Verifier({
      canisterId,
      rootKey,
      clientId,
      now: opts.now,
      maxMessageAgeMs: opts.maxMessageAgeMs,
      maxCertificateAgeMs: opts.maxCertificateAgeMs,
      maxClockSkewMs: opts.maxClockSkewMs,
    });
    const conn = new IcWebSocket(ws, secret, v, clientId, canisterId, opts);
    conn.#sendFirstMessage(ws);
    // A keep-alive asks the canister for heartbeats, which acknowledge the client's messages.
    conn.#write({ service: true, ack: 0n, message: new Uint8Array() });
    return conn;
  }

  /**
   * Writes the signed first message, with an open nonce above every earlier one of this client
   * (the canister refuses a first message that is not fresh, so no gateway can replay one).
   * @param {WebSocket} ws
   */
  #sendFirstMessage(ws) {
    this.#openNonce = nextOpenNonce(this.#openNonce, this.#now());
    const s1 = encodeFirstMessage({ canisterId: this.canisterId.toText(), clientId: this.clientId, openNonce: this.#openNonce });
    ws.send(encodeSignedFirstMessage(s1, ed25519.sign(s1, this.#secret), this.#batchFrames ? BATCH_FRAMES : 0n));
  }

  /** The open nonce of the last first message sent. */
  get openNonce() {
    return this.#openNonce;
  }

  /**
   * Passes the frames of sock to recv while it is the socket in use; a socket that reconnect
   * replaced is no longer read (what it still delivers came, or comes again, through the new one).
   * @param {Socket} sock
   */
  #attach(sock) {
    sock.ws.onmessage = (ev) => {
      if (sock !== this.#sock) return;
      if (this.#failed || this.#closed) return; // nothing more is read after the stream stopped
      if (!(ev.data instanceof ArrayBuffer)) {
        this.#end(new VerifyError(Kind.MALFORMED, '', 'the gateway sent a text frame'));
        return;
      }
      if (this.#frames.length >= this.#maxQueued) {
        this.#end(new Error(`icws: ${this.#frames.length} messages wait for recv: the application does not read them`));
        sock.ws.close(1000, 'client too slow');
        return;
      }
      this.#frames.push({ sock, data: new Uint8Array(ev.data) });
      this.#notify();
    };
    sock.ws.onclose = (ev) => {
      if (sock === this.#sock) this.#end(new CloseError(ev.code, ev.reason));
      else this.#retired = this.#retired.filter((r) => r !== sock);
    };
    sock.ws.onerror = () => {};
  }

  /**
   * Notes that a message of ours came through sock. Its gateway holds the client now, so the
   * sockets reconnect replaced can be closed (their gateways' ws_close no longer ends the
   * client's session).
   * @param {Socket} sock
   */
  #heard(sock) {
    if (sock.proven) return;
    sock.proven = true;
    const old = this.#retired;
    this.#retired = [];
    for (const r of old) {
      try {
        r.ws.close(1000, 'moved to another gateway');
      } catch {
        // Already closing.
      }
    }
  }

  /** @param {Error} err */
  #end(err) {
    if (!this.#sockErr) this.#sockErr = err;
    if (this.#pumpTimer !== null) clearTimeout(this.#pumpTimer);
    this.#pumpTimer = null;
    this.#notify();
  }

  #notify() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /**
   * Numbers and signs one message and queues it for writing (see #pump).
   * @param {{message: Uint8Array, service?: boolean, ack?: bigint}} m
   * @returns {bigint} its sequence number
   */
  #write(m) {
    if (this.#sock.ws.readyState !== 1) throw this.#sockErr ?? new CloseError(1006, 'connection lost');
    if (this.#unacked.length >= this.#maxUnsent) {
      if (!this.#pacer.acknowledging && this.#unacked[0].seq < this.#written) {
        // A canister without service messages never acknowledges: keep the latest messages only.
        this.#unacked.shift();
      } else {
        throw new Error(`icws: failed to send: ${this.#unacked.length} messages wait for the canister's acknowledgement (maxUnsent); keep calling recv`);
      }
    }
    const seq = this.#nextOut;
    const val = encodeClientWebsocketMessage({
      clientId: this.clientId,
      seq,
      timestamp: BigInt(Math.round(this.#now())) * 1_000_000n,
      message: m.message,
      service: m.service,
      ack: m.ack,
    });
    this.#unacked.push({ seq, frame: encodeClientMessage(ed25519.sign(val, this.#secret), val), app: !m.service });
    this.#nextOut++;
    this.#pump();
    return seq;
  }

  /**
   * Writes the queued frames, in order, as fast as the gateway's limits allow (pacer.js): a
   * frame held back by the rate is written from a timer, one held back by the window when the
   * canister acknowledges (recv reads the acknowledgements).
   */
  #pump() {
    if (this.#pumpTimer !== null || this.#resyncing) return;
    for (;;) {
      if (this.#sock.ws.readyState !== 1 || this.#closed) return;
      const first = this.#nextOut - BigInt(this.#unacked.length);
      if (this.#written < first) this.#written = first;
      if (this.#written >= this.#nextOut) return;
      const f = this.#unacked[Number(this.#written - first)];
      const d = this.#pacer.delay(f.seq, f.frame.length);
      if (d === Infinity) return;
      if (d > 0) {
        this.#pumpTimer = setTimeout(() => {
          this.#pumpTimer = null;
          this.#pump();
        }, d);
        return;
      }
      this.#sock.ws.send(f.frame);
      f.sentAt = this.#now();
      f.behind = f !== this.#unacked[0];
      this.#pacer.wrote(f.seq, f.frame.length);
      this.#written++;
    }
  }

  /**
   * The acknowledgement bound (docs/PROTOCOL.md §6.2): the withheld error when certified service
   * message m, whose acknowledgement is recorded, shows that the gateway swallowed the oldest
   * message written and not acknowledged: m's IC time is more than ackTimeoutMs after its write,
   * or, for a message written behind others unacknowledged (the gateway passes them one at a
   * time), after the IC time of the heartbeat that acknowledged the one before it. Null if not.
   * @param {{seq: bigint, ack: bigint, timestamp: bigint}} m
   * @param {string} key
   * @returns {VerifyError|null}
   */
  #swallowed(m, key) {
    if (this.#ackTimeoutMs < 0 || this.#resyncing) return null;
    const oldest = this.#unacked[0];
    if (oldest === undefined || oldest.sentAt === undefined || oldest.seq >= this.#written) return null;
    const since = oldest.behind ? Math.max(oldest.sentAt, this.#ackedAt) : oldest.sentAt;
    const late = Number(m.timestamp / 1_000_000n) - since;
    if (late <= this.#ackTimeoutMs) return null;
    return new VerifyError(Kind.WITHHELD, key, `the canister's heartbeat ${m.seq} acknowledges client messages up to ${m.ack} only, but message ${oldest.seq} was sent through ${this.#sock.gateway} ${(late / 1000).toFixed(1)} s before it (ackTimeoutMs ${this.#ackTimeoutMs}): the gateway swallowed it; reconnect (it is sent again), through another gateway if you can`, { seq: m.seq });
  }

  /**
   * Records a canister acknowledgement: it has every message below next, the last of them
   * accepted at IC time at (ns).
   * @param {bigint} next
   * @param {bigint} [at]
   */
  #ack(next, at = 0n) {
    if (next > this.#acked) {
      this.#acked = next;
      this.#ackedAt = Number(at / 1_000_000n);
      let i = 0;
      while (i < this.#unacked.length && this.#unacked[i].seq < next) i++;
      this.#unacked.splice(0, i);
    }
    this.#pacer.ack(next);
  }

  /**
   * Signs payload as the next message and queues it for the gateway; the canister checks the
   * signature and the number. Messages are numbered in the order of the calls (the keep-alives
   * the library sends take numbers too) and written in that order, at once if the gateway's
   * limits allow, else as soon as they do (pacer.js: at most MAX_PENDING_FRAMES written and not
   * yet acknowledged by the canister, which recv reads, and MESSAGE_RATE frames a second), so
   * that a burst of sends never gets the client closed. The canister's acceptance is confirmed
   * later, in its acknowledgements (acked).
   * @param {Uint8Array} payload the application's bytes (for echo and chat: encodeAppMessage(text))
   * @returns {bigint} the message's sequence number
   */
  send(payload) {
    if (this.#closed) throw new ClosedError();
    if (this.#failed) throw new Error(`icws: failed to send: the connection failed: ${this.#failed.message}`, { cause: this.#failed });
    if (!(payload instanceof Uint8Array)) throw new TypeError('icws: send wants a Uint8Array (encodeAppMessage(text) for a text)');
    return this.#write({ message: payload });
  }

  /** How many sent messages wait to be written because of the gateway's limits. */
  get unsent() {
    const first = this.#nextOut - BigInt(this.#unacked.length);
    const from = this.#written > first ? this.#written : first;
    return Number(this.#nextOut - from);
  }

  /**
   * The next canister message that passed every check. Calls are served in order.
   * @returns {Promise<Message>}
   */
  recv() {
    const p = this.#tail.then(() => this.#recvOne());
    this.#tail = p.catch(() => {});
    return p;
  }

  async #recvOne() {
    for (;;) {
      if (this.#closed) throw new ClosedError();
      if (this.#failed) throw this.#failed;
      const cm = this.#chPending.shift();
      if (cm) return cm;
      const withheld = this.#checkChannels();
      if (withheld.err) {
        this.#failed = withheld.err;
        throw this.#failed;
      }
      let item = this.#batchq.shift();
      const f = item ? undefined : this.#frames.shift();
      if (!item && !f) {
        if (this.#sockErr) {
          this.#failed = this.#sockErr;
          throw this.#failed;
        }
        const left = Math.min(this.#silenceLeft(), withheld.leftMs);
        if (left === 0 && this.#silenceLeft() === 0) {
          this.#failed = this.#sock.proven
            ? new VerifyError(Kind.WITHHELD, '', `no certified message came through ${this.#sock.gateway} for ${this.#heartbeatTimeoutMs / 1000} s, although the canister sends heartbeats: the gateway or the IC is down, or the gateway withholds messages; reconnect, through another gateway if you can`)
            : new VerifyError(Kind.WITHHELD, '', `no certified message came through ${this.#sock.gateway} within ${this.#heartbeatTimeoutMs / 1000} s of opening the connection: the canister's first heartbeat, which confirms the open, never arrived; the gateway withholds the canister's messages (reconnect, through another gateway if you can), or the canister sends no heartbeats (then set heartbeatTimeoutMs negative)`);
          throw this.#failed;
        }
        await new Promise((resolve) => {
          const timer = left === Infinity ? null : setTimeout(() => resolve(undefined), left);
          this.#wake = () => {
            if (timer !== null) clearTimeout(timer);
            resolve(undefined);
          };
        });
        continue;
      }
      if (f) {
        const sock = f.sock;
        if (sock !== this.#sock) continue; // from a socket reconnect replaced
        if (sock.floor === null) sock.floor = this.#v.next;
        if (isChannelFrame(f.data)) {
          try {
            await this.#channelFrame(f.data);
          } catch (e) {
            if (sock !== this.#sock) continue;
            if (isFatal(e)) {
              this.#failed = /** @type {Error} */ (e);
              this.#frames.length = 0;
            }
            throw e;
          }
          continue;
        }
        item = await this.#verifyFrame(f);
      }
      const { sock, err: e } = /** @type {NonNullable<typeof item>} */ (item);
      const vm = /** @type {import('./verify.js').Verified} */ (item?.vm);
      if (e !== undefined) {
        if (sock !== this.#sock) continue; // reconnect replaced the socket meanwhile
        if (e instanceof VerifyError && e.kind === Kind.REPLAY && e.seq !== null && sock.floor !== null && e.seq < sock.floor) {
          // The overlap of a reconnection: delivered through an earlier socket.
          this.#heard(sock);
          continue;
        }
        if (isFatal(e)) {
          this.#failed = /** @type {Error} */ (e);
          this.#frames.length = 0;
          this.#batchq = [];
        }
        throw e;
      }
      if (this.#closed) throw new ClosedError();
      const m = vm.msg;
      if (sock === this.#sock) {
        this.#heard(sock);
        this.#lastHeard = this.#now();
      }
      if (m.service) {
        if (sock !== this.#sock) continue; // its acknowledgement is the old gateway's view
        const refused = m.message.length > 0 ? this.#channelStatus(m.message) : null;
        this.#ack(m.ack, m.ackTime > 0n ? m.ackTime : m.timestamp);
        const lost = this.#swallowed(m, vm.key);
        if (lost) {
          this.#failed = lost;
          throw this.#failed;
        }
        if (m.close) {
          this.#failed = new CanisterClosedError(m.close);
          throw this.#failed;
        }
        if (this.#resyncing && m.timestamp >= this.#resyncSince) {
          // The canister's acknowledgement of the reopened client: everything it has not
          // confirmed is written again, from the first, in order, once.
          this.#resyncing = false;
          this.#written = this.#nextOut - BigInt(this.#unacked.length);
        }
        this.#pump();
        // Answer with a keep-alive when every message sent is acknowledged; otherwise those
        // messages, on their way, keep the session alive.
        if (!this.#resyncing && m.ack >= this.#nextOut && this.unsent === 0) {
          try {
            this.#write({ service: true, ack: this.#v.next, message: new Uint8Array() });
          } catch {
            // The socket ended; the next recv reports it.
          }
        }
        if (refused) throw refused;
        continue;
      }
      const tsMs = Number(m.timestamp / 1_000_000n);
      return {
        seq: m.seq,
        timestamp: m.timestamp,
        received: vm.received,
        delayMs: vm.received - tsMs,
        payload: m.message.slice(),
        key: vm.key,
      };
    }
  }

  /**
   * Verifies frame f, an S6 or an S9, and returns its (first) message's outcome: verified, or the
   * error to report (never thrown). An S9's further outcomes wait in #batchq for the next
   * recv calls, in order (Verifier.checkBatch: the certificate and witness once per frame).
   * @param {{sock: Socket, data: Uint8Array}} f
   * @returns {Promise<{sock: Socket, vm?: import('./verify.js').Verified, err?: unknown}>}
   */
  async #verifyFrame(f) {
    const sock = f.sock;
    try {
      if (!isBatchFrame(f.data)) return { sock, vm: await this.#v.check(f.data) };
      const items = (await this.#v.checkBatch(f.data)).map((o) => ({ sock, ...o }));
      this.#batchq.push(...items.slice(1));
      return items[0];
    } catch (e) {
      return { sock, err: e };
    }
  }

  /**
   * Moves the connection to a gateway (another one, or the same one again), like the Go
   * client's Conn.Reconnect: it opens a WebSocket there and sends a signed first message with the
   * same key and client id and a fresh open nonce, above every earlier one (so the canister
   * accepts it, binds the client to the new gateway and moves the client's queue along, and no
   * gateway can replay an earlier one). recv then goes on with the next sequence number: the
   * messages that had already come through the old gateway are skipped silently (not reported
   * as replay), the rest delivered, so nothing is lost or repeated. send goes on with its next
   * sequence number too: the messages the canister has not acknowledged are written again
   * through the new gateway as soon as the canister's acknowledgement (which it queues right
   * after the reopening) arrives, and later sends queue behind them until then. Keep calling
   * recv, which reads that acknowledgement.
   *
   * The old socket is closed once a message of ours arrives through the new one (not before:
   * its gateway would end the client's session); what else comes through it is ignored.
   * reconnect may follow any failure of the connection but the canister's end of it
   * (CanisterClosedError, thrown again) and close (ClosedError); the canister must still hold the
   * client. It resolves once the first message is written; a refusal is reported by recv as a
   * CloseError. When it fails (the WebSocket does not open), the previous socket stays in use.
   * Calls are served in order.
   * @param {string} gateway the gateway's WebSocket URL, ws:// or wss://
   * @returns {Promise<void>}
   */
  reconnect(gateway) {
    const r = this.#reconnectTail.then(() => this.#reconnectOne(gateway));
    this.#reconnectTail = r.catch(() => {});
    return r;
  }

  /** @param {string} gateway */
  async #reconnectOne(gateway) {
    if (this.#closed) throw new ClosedError();
    if (this.#failed instanceof CanisterClosedError) throw this.#failed;
    checkGatewayUrl(gateway);
    const since = BigInt(Math.floor(this.#now())) * 1_000_000n;
    const ws = await openWebSocket(this.#WS, gateway, this.#openTimeoutMs);
    const stop = this.#closed ? new ClosedError() : this.#failed instanceof CanisterClosedError ? this.#failed : null;
    if (stop) {
      ws.close(1000, '');
      throw stop;
    }
    try {
      this.#sendFirstMessage(ws);
    } catch (e) {
      ws.close();
      throw new Error(`icws: failed to send the first message to ${gateway}: ${e instanceof Error ? e.message : e}`, { cause: e });
    }
    const sock = { ws, gateway, floor: null, proven: false };
    this.#retired.push(this.#sock);
    this.#sock = sock;
    this.gateway = gateway;
    if (this.#pumpTimer !== null) clearTimeout(this.#pumpTimer);
    this.#pumpTimer = null;
    this.#pacer.reset();
    if (!this.#pacer.acknowledging) {
      // A canister without service messages never says what it has: what was written is
      // taken as delivered, as before the reconnection.
      this.#unacked = this.#unacked.filter((u) => u.seq >= this.#written);
    }
    this.#written = this.#nextOut - BigInt(this.#unacked.length);
    this.#resyncSince = since;
    this.#resyncing = this.#unacked.length > 0;
    this.#frames = [];
    this.#lastHeard = this.#now();
    this.#sockErr = null;
    this.#failed = null;
    this.#attach(sock);
    this.#resubscribe();
    this.#notify();
    this.#pump();
  }

  /**
   * After reconnect: a signed resubscription of every confirmed channel from the next seq
   * expected (docs/PROTOCOL.md §12.3 from), numbered after the messages waiting to be sent again
   * and written with them, so the new gateway serves each channel from where this connection
   * stopped: nothing lost, nothing doubled (as the Go client's Conn.Reconnect).
   */
  #resubscribe() {
    for (const [name, sub] of [...this.#subs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!sub.confirmed) continue;
      sub.resuming = true;
      try {
        this.#write({ service: true, ack: this.#v.next, message: encodeChannelControl({ subscribe: name, from: sub.next }) });
      } catch {
        // The socket ended already; the next recv reports it, and the next reconnect resubscribes.
      }
    }
  }

  /**
   * Subscribes the connection to a certified channel (docs/PROTOCOL.md §12): a signed request the
   * canister may refuse (then recv throws a ChannelError). Once the canister confirms, recv
   * returns the channel's messages, with channel set and seq the channel's, each verified
   * (certificate and witness once per frame), in order, without a gap. Subscribing again to a
   * subscribed channel resumes from the next message expected. It returns the request's
   * sequence number.
   * @param {string} channel 1 to 64 of A–Z a–z 0–9 - _ . : /
   * @returns {bigint}
   */
  subscribe(channel) {
    if (this.#closed) throw new ClosedError();
    if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) throw new TypeError(`icws: subscribe: ${JSON.stringify(channel)} is not a channel name (1 to 64 of A-Z a-z 0-9 - _ . : /)`);
    const sub = this.#subs.get(channel);
    if (!sub) this.#subs.set(channel, { confirmed: false, next: 0n, behindHead: 0n, behindSince: 0, resuming: false });
    const from = sub?.confirmed ? sub.next : undefined;
    return this.#write({ service: true, ack: this.#v.next, message: encodeChannelControl({ subscribe: channel, from }) });
  }

  /**
   * Ends the subscription to channel: at once here (later frames of it are dropped), and at the
   * canister with a signed request. It returns the request's sequence number.
   * @param {string} channel
   * @returns {bigint}
   */
  unsubscribe(channel) {
    if (this.#closed) throw new ClosedError();
    if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel)) throw new TypeError(`icws: unsubscribe: ${JSON.stringify(channel)} is not a channel name`);
    this.#subs.delete(channel);
    return this.#write({ service: true, ack: this.#v.next, message: encodeChannelControl({ unsubscribe: channel }) });
  }

  /** The confirmed subscriptions, sorted. @returns {string[]} */
  get subscriptions() {
    return [...this.#subs].filter(([, s]) => s.confirmed).map(([n]) => n).sort();
  }

  /**
   * Applies C3 (the message of a verified canister service message). It returns a ChannelError
   * for a refusal of a subscription the client asked for, or for a resubscription whose head
   * is past the next seq expected (a gap), else null.
   * @param {Uint8Array} body
   * @returns {ChannelError|null}
   */
  #channelStatus(body) {
    let st;
    try {
      st = decodeChannelStatus(body);
    } catch {
      return null; // certified, so the canister's fault; the stream is intact
    }
    let refused = null;
    if (st.unsubscribed && this.#subs.has(st.unsubscribed)) {
      this.#subs.delete(st.unsubscribed);
      if (st.reason !== 'unsubscribed') refused = new ChannelError(st.unsubscribed, { reason: st.reason });
    }
    const sub = st.subscribed ? this.#subs.get(st.subscribed) : undefined;
    if (sub) {
      if (!sub.confirmed) sub.next = st.head;
      else if (st.head > sub.next) {
        refused = new ChannelError(st.subscribed, { want: sub.next, got: st.head });
        sub.next = st.head;
      }
      // A confirmed subscription's next is never lowered: frames may have delivered past the
      // head of a resubscription before its status came.
      sub.confirmed = true;
    }
    for (const [name, head] of st.heads ?? []) {
      const s = this.#subs.get(name);
      if (!s || !s.confirmed) continue;
      if (head <= s.next) {
        s.resuming = false;
        continue;
      }
      if (s.behindHead <= s.next) s.behindSince = this.#now();
      if (head > s.behindHead) s.behindHead = head;
    }
    return refused;
  }

  /**
   * The withholding check (docs/PROTOCOL.md §12.6): err is a withheld VerifyError when a
   * channel is still behind a head the canister reported more than channelGraceMs ago; leftMs
   * is how long until the next such check can fail (Infinity if none).
   * @returns {{err: VerifyError|null, leftMs: number}}
   */
  #checkChannels() {
    const now = this.#now();
    let leftMs = Infinity;
    for (const [name, s] of this.#subs) {
      if (s.behindHead <= s.next) continue;
      const due = s.behindSince + this.#channelGraceMs;
      if (now >= due) {
        return {
          err: new VerifyError(Kind.WITHHELD, channelKey(name, s.next), `channel ${JSON.stringify(name)}: the canister reported head ${s.behindHead} at ${new Date(s.behindSince).toISOString()}, and ${this.#sock.gateway} delivered only up to ${s.next - 1n} within ${this.#channelGraceMs / 1000} s: the gateway withholds the channel; reconnect, through another gateway if you can`),
          leftMs: 0,
        };
      }
      leftMs = Math.min(leftMs, due - now);
    }
    return { err: null, leftMs };
  }

  /**
   * Verifies S8 frame data (certificate and witness once) and queues its new messages for recv.
   * It throws a VerifyError (fatal) for a forgery, a ChannelError for a gap.
   * @param {Uint8Array} data
   */
  async #channelFrame(data) {
    let f;
    try {
      f = decodeChannelFrame(data);
    } catch (e) {
      throw new VerifyError(Kind.MALFORMED, '', 'the frame is not a channel frame', { cause: e });
    }
    const sub = this.#subs.get(f.channel);
    if (!sub || !sub.confirmed) {
      this.channelFramesDropped++;
      return; // not (or no longer, or not yet) subscribed: nothing of ours
    }
    const msgs = await this.#v.checkChannel(f);
    const cur = this.#subs.get(f.channel);
    if (cur !== sub) return; // unsubscribed meanwhile
    if (f.first > sub.next) {
      if (sub.resuming) {
        // Genuine, from the head the new gateway learnt at the reopen; the resubscription's
        // frame from next comes after it, with these values again.
        this.channelFramesDropped++;
        return;
      }
      this.#subs.delete(f.channel);
      throw new ChannelError(f.channel, { want: sub.next, got: f.first });
    }
    const received = this.#now();
    for (const m of msgs) {
      if (m.seq < sub.next) continue; // delivered already
      const tsMs = Number(m.timestamp / 1_000_000n);
      this.#chPending.push({ seq: m.seq, timestamp: m.timestamp, received, delayMs: received - tsMs, payload: m.message.slice(), key: m.key, channel: f.channel });
      sub.next = m.seq + 1n;
    }
    sub.resuming = false;
  }

  /**
   * How long recv may still wait for a certified frame before the silence means withheld: 0 when
   * it is over, Infinity when the timeout is off. The silence counts from the opening of the
   * socket in use, then from its last certified frame.
   */
  #silenceLeft() {
    if (this.#heartbeatTimeoutMs < 0) return Infinity;
    return Math.max(0, this.#lastHeard + this.#heartbeatTimeoutMs - this.#now());
  }

  /**
   * The sequence numbers of the application's messages that the canister has not confirmed yet
   * (written or not); after a failure without reconnect, these may never have reached it.
   * @returns {bigint[]}
   */
  get unconfirmed() {
    return this.#unacked.filter((u) => u.app).map((u) => u.seq);
  }

  /** The next sequence number recv expects from the canister: every message below it was delivered. */
  get received() {
    return this.#v.next;
  }

  /** The next sequence number the canister confirmed receiving (from its acknowledgements). */
  get acked() {
    return this.#acked;
  }

  /**
   * Verified messages; non-fatal rejections go to onreject (if set) and are skipped. It ends
   * after close() and throws the error that ended the stream otherwise.
   * @returns {AsyncGenerator<Message>}
   */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      try {
        yield await this.recv();
      } catch (e) {
        if (e instanceof ClosedError) return;
        if (isFatal(e)) throw e;
        this.onreject?.(e);
      }
    }
  }

  /** @type {((err: VerifyError) => void)|undefined} called for non-fatal rejections by the iterator */
  onreject = undefined;

  /**
   * Ends the connection: a signed goodbye to the canister (a close service message, which ends
   * the session at once; without it the canister keeps the session for a while after the
   * gateway's ws_close, waiting for a reconnection), then a Close frame (code 1000 and reason).
   * recv and send throw ClosedError afterwards.
   * @param {string} [reason]
   */
  close(reason = '') {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pumpTimer !== null) clearTimeout(this.#pumpTimer);
    this.#pumpTimer = null;
    const enc = new TextEncoder();
    let r = reason;
    while (enc.encode(r).length > 123) r = r.slice(0, -1);
    if (this.#sock.ws.readyState === 1 && !this.#resyncing && this.#written === this.#nextOut) {
      // Only in order: with frames still held back, a goodbye would be refused as a gap.
      const val = encodeClientWebsocketMessage({
        clientId: this.clientId,
        seq: this.#nextOut,
        timestamp: BigInt(Math.round(this.#now())) * 1_000_000n,
        message: new Uint8Array(),
        service: true,
        ack: this.#v.next,
        close: r || 'closed by the client',
      });
      try {
        this.#sock.ws.send(encodeClientMessage(ed25519.sign(val, this.#secret), val));
        this.#nextOut++;
      } catch {
        // The socket broke: the session ends when the canister's detach grace passes.
      }
    }
    for (const s of [this.#sock, ...this.#retired]) {
      try {
        s.ws.close(1000, r);
      } catch {
        s.ws.close();
      }
    }
    this.#retired = [];
    this.#notify();
  }
}

export { IcWebSocketEvents, bytesCodec, candidCodec, jsonCodec } from './events.js';
export { IcWebSocketEvents as default } from './events.js';
