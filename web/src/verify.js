// The checks of every frame from the gateway, in the Go client's order (package client):
//
//  1. the certificate verifies: BLS signature under the root key (or a subnet key delegated by
//     it, whose canister ranges hold the canister), and its time is neither older than
//     maxCertificateAgeMs (stale) nor ahead of the clock by more than maxClockSkewMs (future);
//  2. the canister's certified data in the certificate is the root hash of the witness (tampered);
//  3. the witness holds ["websocket", key] and its value is SHA-256(val) (tampered);
//  4. val decodes as a message (malformed);
//  5. its client id is ours (foreign);
//  6. its sequence number is the next one: lower is replay, higher is gap;
//  7. its timestamp is neither older than maxMessageAgeMs (stale) nor ahead of the clock by more
//     than maxClockSkewMs (future).
//
// Only then is the sequence number advanced. A frame that fails is dropped whole. Checks 1 and 2
// are #certTree, 3 to 7 #message: an S6 runs both once; an S9 (batched frame, docs/PROTOCOL.md
// §13) runs #certTree once and #message on each of its messages in order, as the Go client.

import {
  Certificate,
  CertificateTimeErrorCode,
  Cbor,
  LookupPathStatus,
  lookupResultToBuffer,
  lookup_path,
  reconstruct,
} from '@dfinity/agent';
import { sha256 } from '@noble/hashes/sha2';

import { Kind, VerifyError } from './errors.js';
import { MalformedError, decodeBatchFrame, decodeCertMessage, decodeChannelMessage, decodeWebsocketMessage, messageKey } from './wire.js';

/**
 * The certified-map key of a channel message: ~name~seq, seq zero-padded to 20 digits
 * (protocol.ChannelKey).
 * @param {string} channel @param {bigint} seq
 */
export function channelKey(channel, seq) {
  return `~${channel}~${seq.toString().padStart(20, '0')}`;
}

/** Defaults, as the Go client's. */
export const DEFAULT_MAX_MESSAGE_AGE_MS = 2 * 60 * 1000;
export const DEFAULT_MAX_CERTIFICATE_AGE_MS = 5 * 60 * 1000;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 30 * 1000;

/** How many certificates (and witness trees) are remembered: one serves a whole batch. */
const CACHE_SLOTS = 4;
/** How deep a witness tree may nest. */
const MAX_TREE_DEPTH = 128;

const NS_PER_MS = 1_000_000n;

/** @param {Uint8Array} a @param {Uint8Array} b */
function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** @param {Uint8Array} b */
export function toHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** @param {bigint} ns */
function isoTime(ns) {
  const ms = ns / NS_PER_MS;
  if (ms > 8_640_000_000_000_000n) return `${ns} ns`;
  return new Date(Number(ms)).toISOString();
}

/** @param {number} ms */
function duration(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

/**
 * Reads an unsigned LEB128 number (the certificate's /time).
 * @param {Uint8Array} b
 */
function leb128(b) {
  let v = 0n;
  let shift = 0n;
  for (const x of b) {
    v |= BigInt(x & 0x7f) << shift;
    if ((x & 0x80) === 0) return v;
    shift += 7n;
    if (shift > 63n) break;
  }
  throw new Error('the certificate time is not a valid LEB128 number');
}

/**
 * Checks that a decoded CBOR value is a well-formed hash tree, so that reconstruct and
 * lookup_path see only the shapes they handle.
 * @param {unknown} t @param {number} depth
 * @returns {void}
 */
function checkTree(t, depth = 0) {
  if (depth > MAX_TREE_DEPTH) throw new Error(`the tree nests deeper than ${MAX_TREE_DEPTH}`);
  if (!Array.isArray(t) || t.length === 0) throw new Error('a tree node is not a non-empty array');
  const bytes = (/** @type {unknown} */ x) => x instanceof Uint8Array;
  switch (t[0]) {
    case 0:
      if (t.length === 1) return;
      break;
    case 1:
      if (t.length === 3) {
        checkTree(t[1], depth + 1);
        checkTree(t[2], depth + 1);
        return;
      }
      break;
    case 2:
      if (t.length === 3 && bytes(t[1])) {
        checkTree(t[2], depth + 1);
        return;
      }
      break;
    case 3:
      if (t.length === 2 && bytes(t[1])) return;
      break;
    case 4:
      if (t.length === 2 && bytes(t[1]) && t[1].length === 32) return;
      break;
    default:
  }
  throw new Error(`bad tree node of type ${String(t[0])}`);
}

/**
 * @typedef {object} Verified a message that passed every check
 * @property {string} key
 * @property {import('./wire.js').WebsocketMessage} msg
 * @property {number} received local time of the check, ms since the epoch
 */

/**
 * Verifier runs the checks on frames for one client and keeps the next expected sequence number.
 * Calls of check must not overlap (the connection serializes them).
 */
export class Verifier {
  /**
   * @param {object} cfg
   * @param {import('@dfinity/principal').Principal} cfg.canisterId
   * @param {Uint8Array} cfg.rootKey the IC's DER root key
   * @param {bigint} cfg.clientId
   * @param {() => number} [cfg.now] the clock, ms since the epoch. When set, the agent's own
   *   certificate time check (which reads the real clock) is turned off and only ours runs.
   * @param {number} [cfg.maxMessageAgeMs]
   * @param {number} [cfg.maxCertificateAgeMs]
   * @param {number} [cfg.maxClockSkewMs]
   */
  constructor(cfg) {
    this.canisterId = cfg.canisterId;
    this.rootKey = cfg.rootKey;
    this.clientId = cfg.clientId;
    this.realClock = cfg.now === undefined;
    this.now = cfg.now ?? (() => Date.now());
    this.maxMessageAgeMs = cfg.maxMessageAgeMs ?? DEFAULT_MAX_MESSAGE_AGE_MS;
    this.maxCertificateAgeMs = cfg.maxCertificateAgeMs ?? DEFAULT_MAX_CERTIFICATE_AGE_MS;
    this.maxClockSkewMs = cfg.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    /** The sequence number of the next canister message due. */
    this.next = 0n;
    /** @type {Array<{cert: Uint8Array, certifiedData?: Uint8Array, timeNs?: bigint, err?: VerifyError}>} */
    this.certs = [];
    /** @type {Array<{tree: Uint8Array, node?: any, digest?: Uint8Array, err?: unknown}>} */
    this.trees = [];
    /** How many certificates were verified (not taken from the cache). */
    this.certVerifications = 0;
  }

  /**
   * Verifies a certificate, or returns the remembered result for the same bytes. Time failures
   * are not remembered: they are checked again anyway.
   * @param {Uint8Array} cert @param {string} key
   */
  async cert(cert, key) {
    const hit = this.certs.find((e) => equal(e.cert, cert));
    if (hit) return hit;
    this.certVerifications++;
    let entry;
    try {
      const c = await Certificate.create({
        certificate: cert,
        canisterId: this.canisterId,
        rootKey: this.rootKey,
        maxAgeInMinutes: this.maxCertificateAgeMs / 60000,
        disableTimeVerification: !this.realClock,
      });
      const certifiedData = lookupResultToBuffer(c.lookup_path(['canister', this.canisterId.toUint8Array(), 'certified_data']));
      const time = lookupResultToBuffer(c.lookup_path(['time']));
      if (!certifiedData) {
        entry = { cert: cert.slice(), err: new VerifyError(Kind.BAD_CERTIFICATE, key, `the certificate has no certified data for canister ${this.canisterId.toText()}`) };
      } else if (!time) {
        entry = { cert: cert.slice(), err: new VerifyError(Kind.BAD_CERTIFICATE, key, 'the certificate has no time') };
      } else {
        entry = { cert: cert.slice(), certifiedData: certifiedData.slice(), timeNs: leb128(time) };
      }
    } catch (e) {
      const code = /** @type {any} */ (e)?.cause?.code;
      if (code instanceof CertificateTimeErrorCode) {
        const kind = code.ageType === 'future' ? Kind.FUTURE : Kind.STALE;
        return { cert, err: new VerifyError(kind, key, `the certificate is from the ${code.ageType === 'future' ? 'future' : 'past'}`, { cause: e }) };
      }
      entry = { cert: cert.slice(), err: new VerifyError(Kind.BAD_CERTIFICATE, key, 'the certificate does not verify', { cause: e }) };
    }
    this.certs.unshift(entry);
    this.certs.length = Math.min(this.certs.length, CACHE_SLOTS);
    return entry;
  }

  /**
   * Decodes a witness tree and its root hash, or returns the remembered result.
   * @param {Uint8Array} tree
   */
  async tree(tree) {
    const hit = this.trees.find((e) => equal(e.tree, tree));
    if (hit) return hit;
    let entry;
    try {
      const node = Cbor.decode(tree);
      checkTree(node);
      entry = { tree: tree.slice(), node, digest: await reconstruct(/** @type {any} */ (node)) };
    } catch (e) {
      entry = { tree: tree.slice(), err: e };
    }
    this.trees.unshift(entry);
    this.trees.length = Math.min(this.trees.length, CACHE_SLOTS);
    return entry;
  }

  /**
   * Checks 1 and 2 (the certificate verifies and is fresh; the canister's certified data is the
   * witness's root hash), which every frame's messages share: once per S6, S8 or S9. key names
   * the frame in errors (its first message's key). It returns the decoded witness and the time
   * of the check; on failure it throws a VerifyError.
   * @param {string} key @param {Uint8Array} cert @param {Uint8Array} tree
   * @returns {Promise<{node: any, now: number}>}
   */
  async #certTree(key, cert, tree) {
    // 1. The certificate verifies and is fresh.
    const ce = await this.cert(cert, key);
    if (ce.err) throw ce.err.key === key ? ce.err : new VerifyError(ce.err.kind, key, ce.err.detail, { cause: ce.err.cause });
    const now = this.now();
    const certTimeNs = /** @type {bigint} */ (ce.timeNs);
    const certAge = now - Number(certTimeNs / NS_PER_MS);
    if (certAge > this.maxCertificateAgeMs) {
      throw new VerifyError(Kind.STALE, key, `the certificate is ${duration(certAge)} old (time ${isoTime(certTimeNs)}), more than the ${duration(this.maxCertificateAgeMs)} allowed`);
    }
    if (-certAge > this.maxClockSkewMs) {
      throw new VerifyError(Kind.FUTURE, key, `the certificate's time ${isoTime(certTimeNs)} is ${duration(-certAge)} ahead of the local clock (at most ${duration(this.maxClockSkewMs)} allowed)`);
    }

    // 2. The canister's certified data is the witness's root hash.
    const te = await this.tree(tree);
    if (te.err) throw new VerifyError(Kind.TAMPERED, key, 'the witness tree does not decode', { cause: te.err });
    const digest = /** @type {Uint8Array} */ (te.digest);
    const certified = /** @type {Uint8Array} */ (ce.certifiedData);
    if (!equal(digest, certified)) {
      throw new VerifyError(Kind.TAMPERED, key, `the witness root ${toHex(digest)} is not the canister's certified data ${toHex(certified)}`);
    }
    return { node: te.node, now };
  }

  /**
   * Checks 3 to 7 on one message, val under key, in a witness that passed #certTree at now: the
   * same for an S6 and for each message of an S9. On success it advances the expected sequence
   * number; on failure it throws a VerifyError and changes nothing.
   * @param {any} node @param {number} now @param {string} key @param {Uint8Array} val
   * @returns {Verified}
   */
  #message(node, now, key, val) {
    // 3. The witness holds ["websocket", key] = SHA-256(val).
    const r = lookup_path(['websocket', key], node);
    if (r.status !== LookupPathStatus.Found || !(r.value instanceof Uint8Array)) {
      throw new VerifyError(Kind.TAMPERED, key, `the witness does not hold ["websocket", key] (lookup: ${r.status})`);
    }
    const sum = sha256(val);
    if (!equal(r.value, sum)) {
      throw new VerifyError(Kind.TAMPERED, key, `SHA-256 of val is ${toHex(sum)}, the witness certifies ${toHex(r.value)}`);
    }

    // 4. val decodes. It is certified: a failure here is the canister's fault.
    let m;
    try {
      m = decodeWebsocketMessage(val);
    } catch (e) {
      if (!(e instanceof MalformedError)) throw e;
      throw new VerifyError(Kind.MALFORMED, key, 'the certified message does not decode', { cause: e });
    }

    // 5. It is ours.
    if (m.clientId !== this.clientId) {
      throw new VerifyError(Kind.FOREIGN, key, `the message is for client ${m.clientId}, we are client ${this.clientId}`, { seq: m.seq });
    }

    // 6. It is the next one.
    if (m.seq < this.next) {
      throw new VerifyError(Kind.REPLAY, key, `sequence number ${m.seq} was already delivered (next is ${this.next})`, { seq: m.seq });
    }
    if (m.seq > this.next) {
      throw new VerifyError(Kind.GAP, key, `sequence number ${m.seq}, want ${this.next}: ${m.seq - this.next} message(s) missing`, { seq: m.seq });
    }

    // 7. Its timestamp is neither too old nor in the future.
    const age = now - Number(m.timestamp / NS_PER_MS);
    if (age > this.maxMessageAgeMs) {
      throw new VerifyError(Kind.STALE, key, `the message was queued ${duration(age)} ago (at ${isoTime(m.timestamp)}), more than the ${duration(this.maxMessageAgeMs)} allowed`, { seq: m.seq });
    }
    if (-age > this.maxClockSkewMs) {
      throw new VerifyError(Kind.FUTURE, key, `the message's timestamp ${isoTime(m.timestamp)} is ${duration(-age)} ahead of the local clock (at most ${duration(this.maxClockSkewMs)} allowed)`, { seq: m.seq });
    }

    this.next++;
    return { key, msg: m, received: now };
  }

  /**
   * Runs every check on one S6 frame. On success it advances the expected sequence number; on
   * failure it throws a VerifyError and changes nothing.
   * @param {Uint8Array} frame
   * @returns {Promise<Verified>}
   */
  async check(frame) {
    let cm;
    try {
      cm = decodeCertMessage(frame);
    } catch (e) {
      throw new VerifyError(Kind.MALFORMED, '', 'the frame is not a cert message', { cause: e });
    }
    const { node, now } = await this.#certTree(cm.key, cm.cert, cm.tree);
    return this.#message(node, now, cm.key, cm.val);
  }

  /**
   * Runs the checks of docs/PROTOCOL.md §13.2 on an S9 frame, as the Go client's checkBatch: the
   * certificate and the witness once, then every message in order exactly as an S6's, with the
   * same next sequence number. A frame that does not decode, or whose certificate or witness
   * fails, throws one fatal VerifyError. Otherwise it returns each message's outcome in order,
   * verified or the VerifyError to report; after the first fatal failure nothing more is
   * checked, so the outcomes end with it.
   * @param {Uint8Array} frame
   * @returns {Promise<Array<{vm?: Verified, err?: VerifyError}>>}
   */
  async checkBatch(frame) {
    let f;
    try {
      f = decodeBatchFrame(frame);
    } catch (e) {
      throw new VerifyError(Kind.MALFORMED, '', 'the frame is not a batch frame', { cause: e });
    }
    const keys = f.nonces.map((n) => messageKey(f.gateway, n));
    const { node, now } = await this.#certTree(keys[0], f.cert, f.tree);
    /** @type {Array<{vm?: Verified, err?: VerifyError}>} */
    const out = [];
    for (let i = 0; i < f.vals.length; i++) {
      try {
        out.push({ vm: this.#message(node, now, keys[i], f.vals[i]) });
      } catch (e) {
        if (!(e instanceof VerifyError)) throw e;
        out.push({ err: e });
        if (e.fatal) break;
      }
    }
    return out;
  }

  /**
   * Runs the checks of docs/PROTOCOL.md §12.6 (2 to 5) on S8 frame f: the certificate and the
   * witness once (with the caches the per-client frames use), then every value's hash, channel
   * and seq. It returns the decoded messages; on failure it throws a VerifyError.
   * @param {import('./wire.js').ChannelFrame} f
   * @returns {Promise<Array<{channel: string, seq: bigint, timestamp: bigint, message: Uint8Array, key: string}>>}
   */
  async checkChannel(f) {
    const key0 = channelKey(f.channel, f.first);
    const { node } = await this.#certTree(key0, f.cert, f.tree);
    const out = [];
    for (let i = 0; i < f.vals.length; i++) {
      const seq = f.first + BigInt(i);
      const key = channelKey(f.channel, seq);
      const r = lookup_path(['websocket', key], node);
      const sum = sha256(f.vals[i]);
      if (r.status !== LookupPathStatus.Found || !(r.value instanceof Uint8Array) || !equal(r.value, sum)) {
        throw new VerifyError(Kind.TAMPERED, key, `value ${i}: the witness does not certify SHA-256 ${toHex(sum)} under this key (lookup: ${r.status})`);
      }
      let m;
      try {
        m = decodeChannelMessage(f.vals[i]);
      } catch (e) {
        if (!(e instanceof MalformedError)) throw e;
        throw new VerifyError(Kind.MALFORMED, key, 'the certified channel message does not decode', { cause: e });
      }
      if (m.channel !== f.channel || m.seq !== seq) {
        throw new VerifyError(Kind.TAMPERED, key, `the certified value is channel ${JSON.stringify(m.channel)} seq ${m.seq}, not ${JSON.stringify(f.channel)} seq ${seq}`);
      }
      out.push({ ...m, key });
    }
    return out;
  }
}
